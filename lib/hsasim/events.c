/* hsasim system events and the device watcher: filled in with the hot-plug
 * fault modes (ROCHP_SIM_KERNEL). */
#include "hsasim.h"

void sim_events_start(void);
void sim_events_stop(void);

void sim_events_start(void)
{
}

void sim_events_stop(void)
{
}

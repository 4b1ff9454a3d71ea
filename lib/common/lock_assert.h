/* Lock rules asserted, not assumed (the kernel's lockdep_assert_held): a
 * function documented "with X held" says so with ROCHP_ASSERT_HELD(&X),
 * which checks in builds with ROCHP_LOCK_ASSERTS (debug and sanitizer
 * builds) that the calling thread owns the mutex, and costs nothing
 * otherwise.  A broken rule is a bug in rochp: the assertion names the
 * place and ends the process, as a failed assert() does. */
#ifndef ROCHP_COMMON_LOCK_ASSERT_H
#define ROCHP_COMMON_LOCK_ASSERT_H

#include <pthread.h>

#ifdef ROCHP_LOCK_ASSERTS
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc records the owner's thread id in every mutex it locks (the field
 * pthread_mutex_lock sets after taking it), normal mutexes included. */
static inline bool rochp__mutex_held(pthread_mutex_t *m)
{
    return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == (int)syscall(SYS_gettid);
}

/* glibc's assert() failure path (so that NDEBUG, which release builds
 * with assertions still define, does not turn these off; <assert.h> does
 * not declare it then). */
extern void __assert_fail(const char *assertion, const char *file, unsigned int line,
                          const char *function) __attribute__((__noreturn__));
#define ROCHP_ASSERT_THAT(cond, what)                                                       \
    ((cond) ? (void)0 : __assert_fail(what, __FILE__, __LINE__, __func__))
#define ROCHP_ASSERT_HELD(m) ROCHP_ASSERT_THAT(rochp__mutex_held(m), #m " held by this thread")
#else
#define ROCHP_ASSERT_HELD(m) ((void)0)
#define ROCHP_ASSERT_THAT(cond, what) ((void)0)
#endif

#endif

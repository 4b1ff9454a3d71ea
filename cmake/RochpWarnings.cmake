# Warnings are errors everywhere in the project; one interface target carries them.
add_library(rochp_warnings INTERFACE)
target_compile_options(rochp_warnings INTERFACE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
  $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes -Wmissing-prototypes>)

# ROCHP_SANITIZE=address  -> ASan + UBSan (UBSan errors are fatal)
# ROCHP_SANITIZE=thread   -> TSan
set(ROCHP_SANITIZE "" CACHE STRING "Sanitizer build: empty, 'address' (ASan+UBSan) or 'thread' (TSan)")
set_property(CACHE ROCHP_SANITIZE PROPERTY STRINGS "" address thread)
# ROCHP_SANITIZE_USER_FLAGS: what a program outside the build that links
# the sanitized librochp (and loads the sanitized hsasim) needs.
if(ROCHP_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  set(ROCHP_SANITIZE_USER_FLAGS "-fsanitize=address,undefined")
elseif(ROCHP_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  set(ROCHP_SANITIZE_USER_FLAGS "-fsanitize=thread")
elseif(NOT ROCHP_SANITIZE STREQUAL "")
  message(FATAL_ERROR "ROCHP_SANITIZE must be empty, 'address' or 'thread', not '${ROCHP_SANITIZE}'")
endif()

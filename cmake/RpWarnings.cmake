# Warnings and sanitizers shared by every first-party target (rp_options).
add_library(rp_options INTERFACE)
if(MSVC)
  target_compile_options(rp_options INTERFACE /W4)
else()
  target_compile_options(rp_options INTERFACE -Wall -Wextra -Wno-unused-parameter)
endif()
if(RP_SANITIZE)
  target_compile_options(rp_options INTERFACE -fsanitize=${RP_SANITIZE} -fno-omit-frame-pointer
                                              -fno-sanitize-recover=all)
  target_link_options(rp_options INTERFACE -fsanitize=${RP_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND RP_SANITIZE MATCHES "undefined")
    # Note: clang 14's -fsanitize=function emits prologue data that the
    # assembler cannot place for coroutine functions split across sections
    # ("Cannot represent a difference across sections"); every other UBSan
    # check stays on.
    # Note: -fsanitize=vptr is off too. It checks readability of a vtable by
    # writing through a pipe (sanitizer_common IsAccessibleMemoryRange), so in
    # a process that is out of descriptors, which the broker's fd-pressure
    # test provokes on purpose, it reports a false "invalid vptr"; runtime
    # suppressions cannot help because they need the symbolizer, which needs
    # descriptors too.
    target_compile_options(rp_options INTERFACE -fno-sanitize=function -fno-sanitize=vptr)
  endif()
endif()

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
endif()

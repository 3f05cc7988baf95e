# Third-party dependencies, all from Debian bookworm packages:
#   protobuf 3.21 (lite runtime), Boost 1.81 (Asio, Process v2; header-only),
#   spdlog 1.10 + fmt 9 (header-only), GoogleTest 1.12, BLAKE3 reference C.
# On the mingw-w64 leg, Boost/spdlog/fmt headers come from Debian through a
# private directory of symlinks (never /usr/include itself), and protobuf-lite
# from ci/lib/mingw-protobuf.sh (RP_PROTOBUF_PREFIX).

find_program(RP_PROTOC protoc REQUIRED)

add_library(rp_deps INTERFACE)
target_compile_definitions(rp_deps INTERFACE BOOST_PROCESS_USE_STD_FS BOOST_PROCESS_V2_SEPARATE_COMPILATION BOOST_ALL_NO_LIB
                                             FMT_HEADER_ONLY BOOST_ASIO_NO_DEPRECATED)
# Asio keeps freed coroutine frames and handler blocks per thread for reuse,
# 2 of each kind by default. A broker Hello nests about a dozen coroutine
# frames, so with 2 most of them came from the heap (memalign) every time;
# 16 serves the whole chain from the cache (callgrind: ~17 fewer heap
# allocations per handoff). Every translation unit must agree on it.
target_compile_definitions(rp_deps INTERFACE BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)

if(WIN32 AND NOT MSVC AND CMAKE_CROSSCOMPILING)
  set(RP_PROTOBUF_PREFIX "" CACHE PATH "mingw protobuf-lite install prefix")
  if(NOT EXISTS "${RP_PROTOBUF_PREFIX}/lib/libprotobuf-lite.a")
    message(FATAL_ERROR "RP_PROTOBUF_PREFIX must point at a mingw protobuf-lite install "
                        "(ci/lib/mingw-protobuf.sh prints one)")
  endif()
  add_library(protobuf::libprotobuf-lite STATIC IMPORTED)
  set_target_properties(protobuf::libprotobuf-lite PROPERTIES
    IMPORTED_LOCATION ${RP_PROTOBUF_PREFIX}/lib/libprotobuf-lite.a
    INTERFACE_INCLUDE_DIRECTORIES ${RP_PROTOBUF_PREFIX}/include)

  # Debian's headers, seen through symlinks so that no Linux system header
  # can be picked up by the cross compiler.
  set(RP_SYSINC ${CMAKE_BINARY_DIR}/mingw-sysinclude)
  file(MAKE_DIRECTORY ${RP_SYSINC})
  foreach(dir boost spdlog fmt)
    file(CREATE_LINK /usr/include/${dir} ${RP_SYSINC}/${dir} SYMBOLIC)
  endforeach()
  # Boost.Process v2 includes <Windows.h>; mingw ships windows.h only.
  file(CREATE_LINK /usr/x86_64-w64-mingw32/include/windows.h ${RP_SYSINC}/Windows.h SYMBOLIC)
  target_include_directories(rp_deps SYSTEM INTERFACE ${RP_SYSINC})
  target_compile_definitions(rp_deps INTERFACE _WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN NOMINMAX)
  target_compile_options(rp_deps INTERFACE -Wa,-mbig-obj)
  # zlib from libz-mingw-w64-dev (the diagnose bundle's gzip).
  target_link_libraries(rp_deps INTERFACE protobuf::libprotobuf-lite z ws2_32 mswsock bcrypt
                                          advapi32 ntdll)
  target_link_options(rp_deps INTERFACE -static)
else()
  find_package(Protobuf 3.21 REQUIRED)
  find_package(Boost 1.81 REQUIRED)
  find_package(Threads REQUIRED)
  target_link_libraries(rp_deps INTERFACE protobuf::libprotobuf-lite Boost::headers
                                          Threads::Threads)
  if(WIN32)
    target_compile_definitions(rp_deps INTERFACE _WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN
                                                 NOMINMAX)
    target_link_libraries(rp_deps INTERFACE ws2_32 mswsock bcrypt advapi32 ntdll)
  else()
    # SHA-256 of cache manifests (Windows uses BCrypt).
    find_package(OpenSSL REQUIRED)
    target_link_libraries(rp_deps INTERFACE OpenSSL::Crypto)
  endif()
  find_package(ZLIB REQUIRED)  # the diagnose bundle's gzip
  target_link_libraries(rp_deps INTERFACE ZLIB::ZLIB)
endif()

# BLAKE3: the reference C implementation that Debian ships inside
# librust-blake3-dev. Portable code only (no SIMD dispatch): names and
# executable hashes are small inputs.
# Elsewhere, point RP_BLAKE3_DIR at the c/ folder of a BLAKE3 checkout.
if(NOT RP_BLAKE3_DIR)
  file(GLOB rp_blake3_candidates LIST_DIRECTORIES true /usr/share/cargo/registry/blake3-*/c)
  list(SORT rp_blake3_candidates)
  list(LENGTH rp_blake3_candidates rp_blake3_count)
  if(rp_blake3_count GREATER 0)
    list(GET rp_blake3_candidates -1 rp_blake3_found)
  endif()
  set(RP_BLAKE3_DIR "${rp_blake3_found}" CACHE PATH "BLAKE3 reference C sources" FORCE)
endif()
if(NOT EXISTS "${RP_BLAKE3_DIR}/blake3.c")
  message(FATAL_ERROR "BLAKE3 C sources not found; install librust-blake3-dev")
endif()
add_library(rp_blake3 STATIC ${RP_BLAKE3_DIR}/blake3.c ${RP_BLAKE3_DIR}/blake3_dispatch.c
                             ${RP_BLAKE3_DIR}/blake3_portable.c)
target_include_directories(rp_blake3 SYSTEM PUBLIC ${RP_BLAKE3_DIR})
target_compile_definitions(rp_blake3 PRIVATE BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2
                                             BLAKE3_NO_AVX512 BLAKE3_USE_NEON=0)
set_target_properties(rp_blake3 PROPERTIES POSITION_INDEPENDENT_CODE ON)
# Hashing backend executables is on the launch path: optimise even in Debug.
if(NOT MSVC)
  target_compile_options(rp_blake3 PRIVATE -O3)
endif()

if(RP_BUILD_TESTS)
  if(EXISTS /usr/src/googletest/CMakeLists.txt)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
    if(RP_SANITIZE)
      target_compile_options(gtest PRIVATE -fsanitize=${RP_SANITIZE})
      target_compile_options(gtest_main PRIVATE -fsanitize=${RP_SANITIZE})
    endif()
  else()
    find_package(GTest REQUIRED)
  endif()
endif()

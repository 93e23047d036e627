# tartan_add_test(NAME <name> SOURCES <files...> LIBS <targets...> LABELS <unit|integration|slow...>
#                 [TIMEOUT <seconds>])
# Builds a GoogleTest binary and registers it with CTest. Every test gets TARTAN_SHARED_DIR
# (../shared: golden outputs, tokenizers, corpora) and TARTAN_BIN_DIR (built executables) in
# its environment.
function(tartan_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_LABELS}"
    TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "TARTAN_SHARED_DIR=${TARTAN_SHARED_DIR};TARTAN_BIN_DIR=${CMAKE_BINARY_DIR}/bin;TARTAN_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# Executables land in one folder so integration tests and scripts find them.
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

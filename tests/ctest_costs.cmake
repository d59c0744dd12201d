# Included by ctest after the doctest-discovered tests (tests/CMakeLists.txt, TEST_INCLUDE_FILES).
# A clean build has no timing history (Testing/Temporary/CTestCostData.txt), so ctest -j2 starts tests
# in definition order, and the few long doctest cases (measured 90-230 s each on the project's 2-core
# machine, against < 1 s for almost all others) started near the end: one core ran them alone for
# minutes. A higher COST starts them first, so they overlap with the short ones.
foreach(t IN LISTS aimc_tests_TESTS)
  if(t MATCHES "^(sram: analytical SNR_a matches the Monte Carlo|training: reference MLP reaches|snr: analytical SNR_a agrees|basisn command: |correctnet: a tiny study|denoise: a tiny study)")
    set_tests_properties("${t}" PROPERTIES COST 1000)
  endif()
endforeach()

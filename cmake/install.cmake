include(CMakePackageConfigHelpers)

set(MPIRE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mpire)

install(TARGETS mpire EXPORT mpire-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/mpire DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT mpire-targets NAMESPACE mpire:: DESTINATION ${MPIRE_CMAKE_DIR})

configure_package_config_file(cmake/mpire-config.cmake.in
  ${PROJECT_BINARY_DIR}/mpire-config.cmake INSTALL_DESTINATION ${MPIRE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mpire-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mpire-config.cmake ${PROJECT_BINARY_DIR}/mpire-config-version.cmake
  DESTINATION ${MPIRE_CMAKE_DIR})

# The .pc file finds its prefix relative to itself, so an installed tree can be moved.
file(RELATIVE_PATH MPIRE_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
# libdw (and libdl) are private to mpire, but a static libmpire.a needs them at link time too.
if(BUILD_SHARED_LIBS)
  set(MPIRE_PC_REQUIRES_LINK "")
  set(MPIRE_PC_REQUIRES_PRIVATE "libdw")
  set(MPIRE_PC_LIBS_LINK "")
else()
  set(MPIRE_PC_REQUIRES_LINK "libdw")
  set(MPIRE_PC_REQUIRES_PRIVATE "")
  set(MPIRE_PC_LIBS_LINK "${CMAKE_DL_LIBS}")
  list(TRANSFORM MPIRE_PC_LIBS_LINK PREPEND "-l")
endif()
configure_file(cmake/mpire.pc.in ${PROJECT_BINARY_DIR}/mpire.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mpire.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

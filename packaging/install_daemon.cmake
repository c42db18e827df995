# Runs at install time (cmake --install, cpack) for one daemon: installs its
# config file and its systemd unit, the unit naming the binary and the config
# where this install puts them.
#
# Where depends on the prefix installed to, known only now: prefix /usr (the
# packages, or `--prefix /usr`) puts them where Debian does, in
# /etc/clusternodes and /lib/systemd/system; any other prefix keeps them
# under itself, in PREFIX/etc/clusternodes and PREFIX/lib/systemd/system.
#
# Expects CN_DAEMON (master or agent), CN_PACKAGING_DIR (this directory),
# CN_GENERATED_DIR (in the build tree) and CN_BINDIR (relative to the prefix).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(cn_confdir /etc/clusternodes)
  set(cn_unitdir /lib/systemd/system)
else()
  set(cn_confdir ${CMAKE_INSTALL_PREFIX}/etc/clusternodes)
  set(cn_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()

set(CN_BINDIR ${CMAKE_INSTALL_PREFIX}/${CN_BINDIR})
set(CN_CONFDIR ${cn_confdir})
set(unit clusternodes-${CN_DAEMON}.service)
# One directory per destination, so that installs to different places (a
# cpack beside a cmake --install) do not overwrite each other's unit.
string(MD5 destination "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(generated ${CN_GENERATED_DIR}/${destination}/${unit})
configure_file(${CN_PACKAGING_DIR}/systemd/${unit}.in ${generated} @ONLY)

# The config files name the keys and files beside them, in CN_CONFDIR.
set(configs ${CN_DAEMON}.toml)
if(CN_DAEMON STREQUAL "master")
  list(APPEND configs acls.toml)
endif()
foreach(config IN LISTS configs)
  configure_file(${CN_PACKAGING_DIR}/config/${config} ${CN_GENERATED_DIR}/${destination}/${config} @ONLY)
  # file(INSTALL) puts DESTDIR in front and lists the files in the manifest.
  file(INSTALL ${CN_GENERATED_DIR}/${destination}/${config} DESTINATION ${cn_confdir}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
file(INSTALL ${generated} DESTINATION ${cn_unitdir}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

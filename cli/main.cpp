// clusternodes: the operator CLI. Everything happens in cn_cli (commands.hpp).
#include "cli/commands.hpp"

int main(int argc, char** argv) { return clusternodes::cli::runCli(argc, argv); }

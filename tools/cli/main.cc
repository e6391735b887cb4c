// tether: the CLI over tetherd's gRPC API. See `tether --help`; exit codes
// are listed in tools/cli/exit_codes.h.

#include <iostream>
#include <string>
#include <vector>

#include "tools/cli/cli.h"
#include "tools/cli/command.h"
#include "tools/cli/endpoint.h"

int main(int argc, char** argv) {
  tether::cli::Context ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ctx.env = tether::cli::Environment::FromProcess();
  ctx.connect = tether::cli::DefaultConnect;
  return tether::cli::RunCli(std::vector<std::string>(argv + 1, argv + argc),
                             ctx);
}

#ifndef TETHER_COMMON_EXEC_ARGS_H_
#define TETHER_COMMON_EXEC_ARGS_H_

#include <string>
#include <vector>

namespace tether {

/// An argv or envp for the exec family: pointers into `strings`, then the
/// null that ends the list. `strings` must outlive the result unchanged.
/// (exec takes `char* const[]` but never writes through it, hence the cast.)
inline std::vector<char*> ExecArgs(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) {
    out.push_back(const_cast<char*>(s.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

}  // namespace tether

#endif  // TETHER_COMMON_EXEC_ARGS_H_

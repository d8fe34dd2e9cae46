// Writing files so that nothing partial is ever left behind: write to a
// temporary file beside the target, then rename it over the target.
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace kbert {

/// Calls `write(out)` on a temporary file next to `path`, then renames it to `path`.
/// On any error the temporary is removed and FileError (or the writer's exception) is thrown.
/// A symbolic link is followed (the file it names is replaced, the link stays); a device or
/// FIFO (/dev/stdout, /dev/null) is written in place; a directory is refused.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace kbert

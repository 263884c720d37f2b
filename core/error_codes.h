// SPDX-License-Identifier: Apache-2.0
// The one place where error types become exit codes and HTTP statuses.
#pragma once

#include <exception>
#include <string>

#include "core/errors.h"

namespace sam3 {

// Exit code for an exception caught at the CLI boundary.
ExitCode exit_code_for(const std::exception& e) noexcept;

// HTTP status for an exception caught at the daemon boundary.
int http_status_for(const std::exception& e) noexcept;

// One line for a human: what() without LibTorch's C++ backtrace.
std::string describe_exception(const std::exception& e);

// The short type name used in JSON errors ("invalid_input", "model_error", ...).
const char* error_type_name(const std::exception& e) noexcept;

}  // namespace sam3

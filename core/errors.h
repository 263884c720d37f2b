// SPDX-License-Identifier: Apache-2.0
// Typed errors thrown by core/ and formats/, translated once at each boundary:
// the CLI maps them to exit codes (exit_code_for), the daemon to HTTP statuses
// (http_status_for). Nothing else in the code base invents codes.
#pragma once

#include <stdexcept>
#include <string>

namespace sam3 {

// Base of every sam3 error; what() is one line meant for a human.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
  // A short machine-readable type name ("invalid_input", ...), used in JSON errors.
  virtual const char* type() const noexcept { return "internal"; }
};

// The caller's input is wrong: bad image bytes, bad base64, bad prompt, bad flag value.
class InvalidInput : public Error {
public:
  using Error::Error;
  const char* type() const noexcept override { return "invalid_input"; }
};

// Input is well-formed but too large (pixels, bytes, frames).
class TooLarge : public InvalidInput {
public:
  using InvalidInput::InvalidInput;
  const char* type() const noexcept override { return "too_large"; }
};

// Something named does not exist: a file, a session, an object id.
class NotFound : public Error {
public:
  using Error::Error;
  const char* type() const noexcept override { return "not_found"; }
};

// The model cannot be used: missing or mismatched checkpoint, a failed forward stage.
class ModelError : public Error {
public:
  using Error::Error;
  const char* type() const noexcept override { return "model_error"; }
};

// No model is loaded / checkpoint missing entirely (distinct exit code for scripts).
class ModelMissing : public ModelError {
public:
  using ModelError::ModelError;
  const char* type() const noexcept override { return "model_missing"; }
};

// Capacity exhausted: full queue, session cap. Retry later.
class Overloaded : public Error {
public:
  using Error::Error;
  const char* type() const noexcept override { return "overloaded"; }
};

// The operation was cancelled by its should_stop callback.
class Cancelled : public Error {
public:
  using Error::Error;
  const char* type() const noexcept override { return "cancelled"; }
};

// Exit codes of the `sam3` binary (documented in man/sam3.1).
enum class ExitCode : int {
  ok = 0,
  runtime = 1,      // unexpected failure, I/O error writing output
  usage = 2,        // bad command line or configuration
  input = 3,        // bad input file / prompt (batch: at least one input failed)
  model = 4,        // model missing, checkpoint mismatched, forward failed
  overloaded = 5,   // capacity exhausted
  interrupted = 130 // SIGINT
};

}  // namespace sam3

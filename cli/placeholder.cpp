// SPDX-License-Identifier: Apache-2.0
// (replaced by the command files)
namespace sam3::cli {}

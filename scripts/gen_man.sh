#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Generates man/sam3.1 from `sam3 <command> --help`, so the man page cannot
# drift from the code (a CTest compares it with the committed file).
# Usage: scripts/gen_man.sh [path/to/sam3] > man/sam3.1
set -euo pipefail
SAM3=${1:-build/sam3}

# Escape help text for roff: backslashes, and lines starting with . or '.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

section() {  # title, command...
  local title=$1; shift
  echo ".SS \"$title\""
  echo ".nf"
  "$SAM3" "$@" --help 2>&1 | esc
  echo ".fi"
}

cat <<'HEAD'
.TH SAM3 1 "" "sam3" "User Commands"
.SH NAME
sam3 \- Segment Anything with Concepts (SAM 3) in native C++
.SH SYNOPSIS
.B sam3
.I COMMAND
[\fIOPTIONS\fR]
.SH DESCRIPTION
.B sam3
runs Meta's SAM 3 image detector on images with text, box and point prompts,
from files and folders or as a REST daemon. Results go to standard output as
JSON lines (COCO RLE masks, normalized boxes, scores); logs and progress go to
standard error. Boxes are \fICX,CY,W,H\fR and points \fIX,Y\fR, normalized to
[0, 1]; a \fB:neg\fR suffix makes a prompt negative.
.SH COMMANDS
HEAD
section "sam3" 
section "sam3 segment" segment
section "sam3 batch" batch
section "sam3 cached-features" cached-features
section "sam3 video track" video track
section "sam3 serve" serve
section "sam3 model" model
section "sam3 model inspect" model inspect
section "sam3 model convert" model convert
section "sam3 model init" model init
section "sam3 config" config
section "sam3 bench" bench
cat <<'TAIL'
.SH CONFIGURATION
Every setting has a TOML key (\fB\-\-config\fR FILE), an environment variable
and, for the common ones, a flag. Precedence: flag > environment > file >
built-in default. Unknown keys and bad values are rejected by name (exit 2).
\fBsam3 config sample\fR prints every key at its default;
\fBsam3 config show\fR prints the resolved configuration.
.SH EXIT STATUS
.TP
.B 0
success
.TP
.B 1
runtime error (I/O failure, internal error, feature not in this build)
.TP
.B 2
usage error: bad command line, bad configuration file, variable or value
.TP
.B 3
bad input: missing, unreadable, corrupt or oversized image; in \fBbatch\fR,
at least one input failed (the others were still processed)
.TP
.B 4
model missing, checkpoint mismatched or unreadable, or a forward pass failed
.TP
.B 5
overloaded: capacity exhausted, retry later
.TP
.B 130
interrupted
.SH FILES
A model folder holds the checkpoint (\fIsam3.pt\fR, \fImodel.safetensors\fR or
\fIweights.safetensors\fR), \fIconfig.json\fR and the CLIP vocabulary
\fIbpe_simple_vocab_16e6.txt.gz\fR.
.SH SEE ALSO
docs/formats.md (output formats), README.md
TAIL

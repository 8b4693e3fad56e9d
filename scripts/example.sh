#!/bin/bash
# example.sh — set up, build, and run sysdiag's main job on the bundled real capture: a real ncat
# (remote-ssh-agent.service) killed by the kernel under SystemCallFilter=@system-service + ~@network-io,
# captured from systemd 252 by the e2e tests (testdata/example: the unit tree and the journal export).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh
go build -o bin/sysdiag ./cmd/sysdiag
ex=testdata/example
echo "\$ sysdiag why remote-ssh-agent.service --root $ex/root --journal-export $ex/journal.export --systemd-version 252.39"
bin/sysdiag why remote-ssh-agent.service --root "$ex/root" --journal-export "$ex/journal.export" --systemd-version 252.39

#!/usr/bin/env bash
# Every check a change must pass before it lands: gofmt, go vet, staticcheck (built from the
# module proxy into a cache dir on first use), and the test suite under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
out=$(gofmt -l $(git ls-files '*.go'))
[ -z "$out" ] || { echo "$out"; exit 1; }

echo "== go vet"
go vet ./...

echo "== staticcheck"
sc=$(go env GOPATH)/bin/staticcheck
if [ ! -x "$sc" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && go mod init sc >/dev/null 2>&1 && go get honnef.co/go/tools/cmd/staticcheck@v0.8.2 >/dev/null 2>&1 &&
    go build -o "$sc" honnef.co/go/tools/cmd/staticcheck)
  rm -rf "$tmp"
fi
"$sc" ./...

echo "== go test -race -shuffle=on"
go test -race -shuffle=on -count=1 ./...

#!/bin/sh
# gen.sh regenerates the Go code of every plugin kind's proto/ directory.
# The generated files are committed, so building Berth never needs protoc;
# run this (or `make proto`) after editing a .proto file.
# Needs protoc and the generators:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
set -eu
cd "$(dirname "$0")"
PATH="$(go env GOPATH)/bin:$PATH"
export PATH
command -v protoc >/dev/null || { echo "gen.sh: protoc is needed (Debian: apt-get install protobuf-compiler)" >&2; exit 1; }
command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
command -v protoc-gen-go-grpc >/dev/null || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
for f in */proto/*.proto; do
	dir=$(dirname "$f")
	protoc -I "$dir" \
		--go_out="$dir" --go_opt=paths=source_relative \
		--go-grpc_out="$dir" --go-grpc_opt=paths=source_relative \
		"$f"
done

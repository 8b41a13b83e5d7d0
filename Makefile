# The two quick-start commands: `make up` (the stack with a demo) and `make test` (every test).
.PHONY: up down status test build bench

up:
	scripts/stack.sh up

down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

test:
	scripts/test.sh

build:
	dotnet build Platform.sln

# The request path under load against the stack of `make up` (docs/benchmarks.md, "Request path under load").
bench:
	scripts/bench.sh

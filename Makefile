# The two quick-start commands: `make up` (the stack with a demo) and `make test` (every test).
.PHONY: up down status test build

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

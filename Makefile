# netattach: `make demo` and `make test` are the README's quick start.
PY        ?= python3
VENV      := .venv
PYTHON    := $(VENV)/bin/python
PYTEST    := $(PYTHON) -m pytest
DEB_PACKAGES := iproute2 iputils-ping nftables tcpdump containernetworking-plugins \
                qemu-system-x86 busybox-static patchelf binutils podman runc
STAMP     := $(VENV)/.installed

.PHONY: all deps venv test test-host test-vm demo bench lint image clean
IMAGE     ?= netattach:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

all: test

## deps: Debian packages the tests and the demo need (root; apt-get only when missing)
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## venv: .venv with netattach (editable) and its test extras
venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

## test: everything CI runs: unit, namespace, e2e and podman tests here, and (at the same time, on
## the other core) the guest suite; the guest's output is printed when both are done
test: deps venv
	$(PYTHON) -m netattach.guest prepare
	@$(MAKE) --no-print-directory test-vm > .test-vm.log 2>&1 & vm=$$!; \
	$(MAKE) --no-print-directory test-host; host=$$?; \
	wait $$vm; vm=$$?; \
	echo "==== tests in the QEMU guest (tests/vm) ===="; cat .test-vm.log; \
	echo "host tests: exit $$host; guest tests: exit $$vm"; \
	test $$host -eq 0 && test $$vm -eq 0

test-host: venv lint
	$(PYTEST) -q tests/unit tests/netns tests/e2e tests/fuzz tests/podman

## test-vm: tests needing 802.1Q/ipvlan/dummy, in one throw-away QEMU guest
test-vm: venv
	$(PYTHON) -m netattach.guest run --timeout 1500 --cwd $(CURDIR) -- $(abspath $(PYTHON)) -m pytest -q -p no:cacheprovider tests/vm

## demo: the field report's story on this machine (in the QEMU guest if 802.1Q is missing)
demo: deps venv
	$(VENV)/bin/netattach sandbox demo examples/vlan-multi

## bench: pod ADD/DEL latency and throughput, thick/thin vs the Go plugins and the floor (by hand)
bench: deps venv
	$(PYTHON) bench/bench.py

## image: the DaemonSet image (needs a Docker engine; not run in CI)
image:
	docker build --build-arg NETATTACH_VERSION=$(lastword $(subst :, ,$(IMAGE))) -t $(IMAGE) .

## lint: ruff, and the package layering of docs/design.md (import-linter, pyproject.toml)
lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

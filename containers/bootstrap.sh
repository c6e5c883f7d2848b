#!/usr/bin/env bash
# Takes a machine to a ready harness: host tools, the project's venv, a Docker engine with
# compose, the base images and the topology's images. Idempotent: on a ready machine it
# only checks, and takes seconds.
#
#   bash containers/bootstrap.sh            # everything
#   bash containers/bootstrap.sh --no-images  # venv and host tools only (unit tests)
#
# What it does on Debian as root when something is missing:
#   apt: python3-venv, tshark, sip-tester, and for the engine docker.io + iptables
#   dockerd started in the background (log: /var/log/sip-harness/dockerd.log)
#   compose v2 from Debian sid's docker-compose package, fetched with a separate apt
#   configuration (the host's sources are not touched) into ~/.docker/cli-plugins;
#   bookworm's docker-compose v1 as the fallback
#   base images: `docker pull`, else mmdebstrap --variant=minbase | docker import
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sip-harness"
logdir=/var/log/sip-harness
want_images=1
[ "${1:-}" = "--no-images" ] && want_images=0

step_start=-1
step() {
    [ $step_start -ge 0 ] && printf '    (%d s)\n' "$((SECONDS - step_start))"
    printf '==> %s\n' "$*"; step_start=$SECONDS
}
ok() { printf '    %s\n' "$*"; }
die() { printf '\nbootstrap: %s\n' "$*" >&2; exit 1; }

is_debian_root() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

apt_updated=0
apt_install() {
    # apt_install PACKAGE... : installs what is missing, on Debian as root only.
    local missing=()
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    is_debian_root || die "missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) or run this as root on Debian"
    if [ $apt_updated = 0 ]; then apt-get update -q >/dev/null; apt_updated=1; fi
    ok "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian mirror the host already uses, so that nothing here names a host of its own.
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    printf '%s' "$uri"
}

# --- host tools ------------------------------------------------------------------------
step "host tools (python venv, tshark, sipp)"
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v tshark >/dev/null || apt_install tshark
command -v sipp >/dev/null || apt_install sip-tester
ok "python3 $(python3 -c 'import sys; print(sys.version.split()[0])'), $(tshark --version 2>/dev/null | head -1), $(sipp -v 2>/dev/null | grep -o 'v[0-9.]*' | head -1)"

# --- the project's virtual environment ----------------------------------------------------
step "python virtual environment (.venv)"
stamp="$repo/.venv/.installed-$(sha1sum "$repo/pyproject.toml" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    [ -x "$repo/.venv/bin/python" ] || python3 -m venv "$repo/.venv"
    mkdir -p "$cache"
    { "$repo/.venv/bin/pip" install -q --upgrade pip && "$repo/.venv/bin/pip" install -q -e "$repo[dev]"; } \
        >"$cache/pip.log" 2>&1 || { tail -20 "$cache/pip.log" >&2; die "pip install failed (full log: $cache/pip.log)"; }
    rm -f "$repo"/.venv/.installed-*
    touch "$stamp"
    ok "installed the harness and its dependencies"
else
    ok "up to date"
fi

# --- the Allure report generator (npm; only for `harness report`) ----------------------------
step "Allure report generator (npm ci)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ -d "$repo/node_modules/allure" ]; then
    ok "installed"
elif command -v npm >/dev/null && [ "$node_major" -ge 20 ]; then
    (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) && ok "allure installed from package-lock.json" \
        || ok "npm ci failed: \`harness report\` will not work until it succeeds (tests do not need it)"
else
    ok "skipped: needs Node.js >= 20 and npm (tests do not need it; \`harness report\` does)"
fi

[ $want_images = 1 ] || { step "done (no images asked for)"; exit 0; }

# --- Docker engine ------------------------------------------------------------------------
step "Docker engine"
if docker info >/dev/null 2>&1; then
    ok "the running engine answers ($(docker version --format '{{.Server.Version}}'))"
else
    is_debian_root || die "no Docker engine answers. Install Docker (https://docs.docker.com/engine/install/) and start it, or run this script as root on Debian, which installs docker.io and starts dockerd."
    command -v dockerd >/dev/null || apt_install docker.io iptables
    command -v docker >/dev/null || apt_install docker.io
    mkdir -p "$logdir"
    ok "starting dockerd (log: $logdir/dockerd.log)"
    setsid nohup dockerd >"$logdir/dockerd.log" 2>&1 < /dev/null &
    for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || die "dockerd did not come up within 60 s; see $logdir/dockerd.log"
    ok "engine $(docker version --format '{{.Server.Version}}') is up"
fi

# --- compose --------------------------------------------------------------------------------
step "Docker Compose"
if docker compose version >/dev/null 2>&1; then
    ok "$(docker compose version)"
else
    plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
    fetched=0
    if is_debian_root && mirror=$(debian_mirror) && [ -n "$mirror" ]; then
        # compose v2 is only in sid: a private apt state, never the host's sources.
        sid="$cache/apt-sid"
        mkdir -p "$sid/lists/partial" "$sid/archives/partial" "$sid/deb"
        echo "deb $mirror sid main" > "$sid/sources.list"
        apt_sid=(-o "Dir::Etc::SourceList=$sid/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
                 -o "Dir::State::Lists=$sid/lists" -o "Dir::Cache::Archives=$sid/archives"
                 -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
                 -o "Acquire::Check-Valid-Until=false")
        if apt-get "${apt_sid[@]}" update -q >/dev/null 2>&1 \
           && (cd "$sid/deb" && rm -f docker-compose_*.deb && apt-get "${apt_sid[@]}" download docker-compose >/dev/null 2>&1); then
            rm -rf "$sid/x" && dpkg-deb -x "$sid"/deb/docker-compose_*.deb "$sid/x"
            mkdir -p "$plugin_dir"
            install -m 0755 "$(find "$sid/x" -type f -name docker-compose | head -1)" "$plugin_dir/docker-compose"
            docker compose version >/dev/null 2>&1 && fetched=1
        fi
    fi
    if [ $fetched = 1 ]; then
        ok "installed $(docker compose version) from Debian sid into $plugin_dir"
    elif command -v docker-compose >/dev/null || { is_debian_root && apt_install docker-compose; }; then
        ok "using $(docker-compose version --short 2>/dev/null || echo docker-compose v1) (v2 could not be fetched)"
    else
        die "no Docker Compose: install the compose plugin (docker compose) or docker-compose"
    fi
fi

# --- base images ----------------------------------------------------------------------------
step "base images"
base_image() {
    # base_image TAG SUITE PULL_REF
    local tag=$1 suite=$2 ref=$3
    if docker image inspect "$tag" >/dev/null 2>&1; then ok "$tag present"; return; fi
    if timeout 60 docker pull -q "$ref" >/dev/null 2>&1; then
        docker tag "$ref" "$tag"; ok "$tag from $ref"; return
    fi
    is_debian_root || die "cannot pull $ref and cannot build it here: run as root on Debian (mmdebstrap), or make a registry reachable"
    command -v mmdebstrap >/dev/null || apt_install mmdebstrap
    ok "no registry answers: building $tag with mmdebstrap (--variant=minbase $suite)"
    mkdir -p "$cache"
    local mirror; mirror=$(debian_mirror)
    mmdebstrap --quiet --variant=minbase --include=ca-certificates \
        --aptopt='Acquire::Check-Valid-Until "false"' "$suite" "$cache/$suite.tar" ${mirror:+"$mirror"}
    docker import "$cache/$suite.tar" "$tag" >/dev/null
    rm -f "$cache/$suite.tar"
    ok "$tag imported"
}
base_image sipharness/bookworm:base bookworm debian:bookworm-slim
base_image sipharness/sid:base sid debian:sid-slim
base_image sipharness/bullseye:base bullseye debian:bullseye-slim

# --- the topology's images ------------------------------------------------------------------
step "topology images (containers/*/Dockerfile)"
export DOCKER_BUILDKIT=0  # the classic builder works with every engine this supports
build() {
    # build NAME CONTEXT DOCKERFILE [docker build options...]
    local name=$1 context=$2 dockerfile=$3 t0=$SECONDS
    shift 3
    mkdir -p "$cache"
    docker build -t "sipharness/$name:latest" -f "$dockerfile" "$@" "$context" >"$cache/build-$name.log" 2>&1 \
        || { tail -20 "$cache/build-$name.log" >&2; die "building the $name image failed (full log: $cache/build-$name.log)"; }
    ok "sipharness/$name ($((SECONDS - t0)) s)"
}
build asterisk "$here/asterisk" "$here/asterisk/Dockerfile"
# the asterisk16-chansip profile: the same Dockerfile on Debian bullseye
build asterisk16 "$here/asterisk" "$here/asterisk/Dockerfile" --build-arg BASE=sipharness/bullseye:base
build mediation "$repo" "$here/mediation/Dockerfile"
build capture "$here/capture" "$here/capture/Dockerfile"
build softphone "$here/softphone" "$here/softphone/Dockerfile"
# --softphone baresip: a real SIP phone in X-Lite's place
build baresip "$here/baresip" "$here/baresip/Dockerfile"
build xmpp "$here/xmpp" "$here/xmpp/Dockerfile"

step "ready (bootstrap took $SECONDS s)"

#!/usr/bin/env bash
# Prepares a node for accel-agent: agent files (or its image), configuration,
# CDI in containerd (or the accel-runtime handler where containerd has no
# CDI), host directories, and optionally a systemd unit for nodes without
# Kubernetes. Every run converges on the same result, so running it again
# changes nothing. Everything it writes is under --root; steps that reach the
# network or the running system (downloads, image pulls, systemctl) run only
# when --root is / and --dry-run is not given.
set -euo pipefail
umask 022

PROG=${0##*/}
ROOT=/
DRY_RUN=0
IMAGE=
TARBALL=
TARBALL_SHA256=
CONFIG_SRC=
CDI_MODE=auto
CONTAINERD_CONFIG=/etc/containerd/config.toml
CONTAINERD_VERSION=
RUNTIME_BINARY=/usr/local/bin/accel-runtime
RUNTIME_HANDLER=accel-runtime
SYSTEMD=0
NODE_BIN=/usr/bin/node
RESTART=1

INSTALL_DIR=/opt/accel-agent
CONFIG_FILE=/etc/accel-agent/config.yaml
UNIT_FILE=/etc/systemd/system/accel-agent.service
TMPFILES_FILE=/etc/tmpfiles.d/accel-agent.conf
CDI_SPEC_DIRS=(/etc/cdi /var/run/cdi)
HOST_DIRS=(/var/lib/accel-agent:0700 /etc/cdi:0755 /etc/kubernetes/node-feature-discovery/features.d:0755)

usage() {
  cat <<EOF
Usage: $PROG [options]

  --root DIR                 act on the tree at DIR instead of / (default /)
  --dry-run                  print what would change; change nothing
  --image REF                pre-pull the agent image for the DaemonSet (network; real nodes only)
  --tarball URL|FILE         install the agent files (a .tar.gz of the image's /opt/accel-agent)
  --sha256 HEX               expected SHA-256 of the tarball
  --config FILE              agent configuration to install as $CONFIG_FILE
                             (default: keep the existing file, else write a minimal one)
  --cdi auto|yes|no          enable CDI in containerd (auto: when containerd is 1.7 or newer);
                             no: register the $RUNTIME_HANDLER runtime handler instead
  --containerd-config PATH   containerd configuration (default $CONTAINERD_CONFIG)
  --containerd-version X.Y   containerd's version, instead of asking containerd
  --runtime-binary PATH      accel-runtime for the handler (default $RUNTIME_BINARY)
  --systemd                  install and enable accel-agent.service (nodes without Kubernetes; needs --tarball)
  --node PATH                node binary used by the unit and wrappers (default $NODE_BIN)
  --no-restart               do not restart containerd after changing its configuration
  -h, --help                 this help
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }

# A refused or interrupted install leaves no half-extracted release or download.
STAGING=
DOWNLOAD=
cleanup() {
  if [ -n "$STAGING" ]; then rm -rf -- "$STAGING"; fi
  if [ -n "$DOWNLOAD" ]; then rm -f -- "$DOWNLOAD"; fi
}
trap cleanup EXIT
bad_usage() { echo "$PROG: $*" >&2; echo "Try '$PROG --help'." >&2; exit 2; }
say() { echo "$PROG: $*"; }

parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --root) ROOT=${2:?--root needs a directory}; shift ;;
      --dry-run) DRY_RUN=1 ;;
      --image) IMAGE=${2:?--image needs a reference}; shift ;;
      --tarball) TARBALL=${2:?--tarball needs a URL or file}; shift ;;
      --sha256) TARBALL_SHA256=${2:?--sha256 needs a digest}; shift ;;
      --config) CONFIG_SRC=${2:?--config needs a file}; shift ;;
      --cdi) CDI_MODE=${2:?--cdi needs auto, yes or no}; shift ;;
      --containerd-config) CONTAINERD_CONFIG=${2:?--containerd-config needs a path}; shift ;;
      --containerd-version) CONTAINERD_VERSION=${2:?--containerd-version needs X.Y}; shift ;;
      --runtime-binary) RUNTIME_BINARY=${2:?--runtime-binary needs a path}; shift ;;
      --systemd) SYSTEMD=1 ;;
      --node) NODE_BIN=${2:?--node needs a path}; shift ;;
      --no-restart) RESTART=0 ;;
      -h | --help) usage; exit 0 ;;
      *) bad_usage "unknown option: $1" ;;
    esac
    shift
  done
  case $CDI_MODE in auto | yes | no) ;; *) bad_usage "--cdi must be auto, yes or no, got '$CDI_MODE'" ;; esac
  case $ROOT in /*) ;; *) bad_usage "--root must be an absolute path" ;; esac
  for p in "$CONTAINERD_CONFIG" "$RUNTIME_BINARY" "$NODE_BIN"; do
    case $p in /*) ;; *) bad_usage "paths on the node must be absolute, got '$p'" ;; esac
  done
  [ -z "$TARBALL_SHA256" ] || [[ $TARBALL_SHA256 =~ ^[0-9a-fA-F]{64}$ ]] || bad_usage "--sha256 must be 64 hex digits"
  [ -z "$CONTAINERD_VERSION" ] || [[ $CONTAINERD_VERSION =~ ^v?[0-9]+\.[0-9]+ ]] || bad_usage "--containerd-version must look like 1.7 or 2.0"
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory"
  ROOT_REAL=$(realpath -e -- "$ROOT")
  if [ "$SYSTEMD" = 1 ] && [ -z "$TARBALL" ] && [ ! -e "$(under_root "$INSTALL_DIR/current")" ]; then
    bad_usage "--systemd needs the agent files: pass --tarball"
  fi
}

# True on the machine itself: only then may the script use the network or
# talk to systemd and containerd.
live() { [ "$ROOT_REAL" = / ] && [ "$DRY_RUN" = 0 ]; }

# The place of a node path under the root, without resolving anything.
under_root() { printf '%s%s' "${ROOT_REAL%/}" "$1"; }

# The place of a node path under the root with symlinks resolved, refusing
# any that lead out of the root (a link in a prepared tree must never make
# the script write to the machine it runs on).
resolve() {
  local real
  real=$(realpath -m -- "$(under_root "$1")")
  case $real in
    "$ROOT_REAL" | "${ROOT_REAL%/}"/*) printf '%s' "$real" ;;
    *) die "$1 resolves to $real, outside --root $ROOT_REAL; refusing to write there" ;;
  esac
}

# Makes node path DEST hold exactly CONTENT with MODE, atomically (a
# temporary file beside it, then a rename), unless it already does. Sets
# WROTE to 1 when something changed (or would have, in a dry run). Helpers
# report through WROTE rather than their exit status because bash ignores
# `set -e` inside a function whose status is being tested.
put_content() {
  local dest=$1 mode=$2 content=$3 target dir tmp
  WROTE=0
  target=$(resolve "$dest")
  if [ -f "$target" ] && printf '%s' "$content" | cmp -s - "$target"; then
    if [ "$(stat -c %a "$target")" != "${mode#0}" ]; then
      WROTE=1
      if [ "$DRY_RUN" = 1 ]; then say "would chmod $mode $dest"; else chmod "$mode" "$target"; say "chmod $mode $dest"; fi
    else
      say "unchanged: $dest"
    fi
    return 0
  fi
  WROTE=1
  if [ "$DRY_RUN" = 1 ]; then
    say "would write: $dest"
    return 0
  fi
  dir=$(dirname "$target")
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.accel-agent-install.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$target"
  say "wrote: $dest"
}

# put_content with the content on stdin (the x keeps trailing newlines).
put_text() {
  local content
  content=$(cat; printf x)
  put_content "$1" "$2" "${content%x}"
}

ensure_dir() {
  local dir=$1 mode=$2 target
  target=$(resolve "$dir")
  if [ -d "$target" ]; then return 0; fi
  if [ "$DRY_RUN" = 1 ]; then say "would create: $dir/"; return 0; fi
  # Parents get the usual 0755; only the directory itself gets MODE.
  mkdir -p "$target"
  chmod "$mode" "$target"
  say "created: $dir/"
}

# ---------------------------------------------------------------- agent files

# Member types and modes, from the archive's listing before anything is
# extracted: plain files, directories and symlinks only, and nothing setuid.
check_release_listing() {
  local listing=$1 odd
  odd=$(awk 'substr($1, 1, 1) !~ /[-dl]/ { print; exit }' <<<"$listing")
  [ -z "$odd" ] || die "tarball holds a special file ($odd); refusing it"
  odd=$(awk 'substr($1, 4, 1) ~ /[sS]/ || substr($1, 7, 1) ~ /[sS]/ { print; exit }' <<<"$listing")
  [ -z "$odd" ] || die "tarball holds a setuid or setgid file ($odd); refusing it"
}

# After extraction: every link stays inside the release, and it is one.
check_release_tree() {
  local dir=$1 link real
  while IFS= read -r -d '' link; do
    real=$(realpath -m -- "$link")
    case $real in "$dir" | "$dir"/*) ;; *) die "tarball link ${link#"$dir"/} points outside the release; refusing it" ;; esac
  done < <(find "$dir" -type l -print0)
  [ -f "$dir/bin/accel-agent.js" ] || die "tarball is not an accel-agent release (no bin/accel-agent.js at its top; make one with: tar -C /opt/accel-agent -czf accel-agent.tar.gz .)"
}

install_tarball() {
  local install_dir releases file digest id previous names
  install_dir=$(resolve "$INSTALL_DIR")
  releases=$(resolve "$INSTALL_DIR/releases")
  case $TARBALL in
    http://* | https://*)
      if ! live; then
        say "skipped (network; --root is not / or --dry-run): download $TARBALL"
        return 0
      fi
      ensure_dir "$INSTALL_DIR/releases" 0755
      DOWNLOAD=$(mktemp "$releases/.download.XXXXXX")
      curl -fsSL --retry 5 --retry-delay 2 -o "$DOWNLOAD" "$TARBALL" || die "download of $TARBALL failed"
      file=$DOWNLOAD
      ;;
    *)
      [ -f "$TARBALL" ] || die "tarball $TARBALL does not exist"
      file=$TARBALL
      ;;
  esac
  digest=$(sha256sum "$file" | cut -d' ' -f1)
  if [ -n "$TARBALL_SHA256" ] && [ "$digest" != "${TARBALL_SHA256,,}" ]; then
    die "tarball checksum is $digest, expected $TARBALL_SHA256"
  fi
  if ! names=$(tar -tzf "$file" 2>/dev/null); then
    die "$TARBALL is not a gzip-compressed tar file"
  fi
  if grep -Eq '^/|(^|/)\.\.(/|$)' <<<"$names"; then
    die "tarball has absolute or .. member names; refusing it"
  fi
  check_release_listing "$(tar -tvzf "$file")"
  id=${digest:0:16}
  if [ -d "$releases/$id" ]; then
    say "unchanged: $INSTALL_DIR/releases/$id"
  elif [ "$DRY_RUN" = 1 ]; then
    say "would install: $INSTALL_DIR/releases/$id"
  else
    ensure_dir "$INSTALL_DIR/releases" 0755
    STAGING=$(mktemp -d "$releases/.staging.XXXXXX")
    tar -xzf "$file" -C "$STAGING" --no-same-owner --no-same-permissions
    check_release_tree "$STAGING"
    chmod -R go-w "$STAGING"
    chmod 0755 "$STAGING"
    mv "$STAGING" "$releases/$id"
    STAGING=
    say "installed: $INSTALL_DIR/releases/$id"
  fi
  if [ -n "$DOWNLOAD" ]; then rm -f "$DOWNLOAD"; DOWNLOAD=; fi

  previous=$(readlink "$install_dir/current" || true)
  if [ "$previous" = "releases/$id" ]; then
    say "unchanged: $INSTALL_DIR/current -> releases/$id"
  elif [ "$DRY_RUN" = 1 ]; then
    say "would point $INSTALL_DIR/current at releases/$id"
  else
    ln -sfn "releases/$id" "$install_dir/.current.new"
    mv -T "$install_dir/.current.new" "$install_dir/current"
    say "switched: $INSTALL_DIR/current -> releases/$id"
    AGENT_CHANGED=1
    prune_releases "$id" "${previous#releases/}"
  fi
}

# Keeps the current release and the one before it, for a rollback.
prune_releases() {
  local keep=$1 prev=$2 dir path name
  dir=$(resolve "$INSTALL_DIR/releases")
  for path in "$dir"/*; do
    name=${path##*/}
    if [ ! -d "$path" ] || [ "$name" = "$keep" ] || [ "$name" = "$prev" ]; then continue; fi
    rm -rf -- "$path"
    say "removed old release: $INSTALL_DIR/releases/$name"
  done
}

# Commands on the node's PATH for the JavaScript entry points the release has.
install_wrappers() {
  local name body entry
  for name in accel-agent accelctl accel-runtime; do
    entry=$(resolve "$INSTALL_DIR/current/bin/$name.js")
    if [ ! -f "$entry" ]; then continue; fi
    printf -v body '#!/bin/sh\nexec %s %s/current/bin/%s.js "$@"\n' "$NODE_BIN" "$INSTALL_DIR" "$name"
    put_content "/usr/local/bin/$name" 0755 "$body"
  done
}

pull_image() {
  if ! live; then
    say "skipped (network; --root is not / or --dry-run): pull $IMAGE"
    return 0
  fi
  if command -v crictl >/dev/null 2>&1; then
    crictl pull "$IMAGE" >/dev/null || die "crictl pull $IMAGE failed"
  elif command -v ctr >/dev/null 2>&1; then
    ctr -n k8s.io images pull "$IMAGE" >/dev/null || die "ctr pull $IMAGE failed"
  else
    die "neither crictl nor ctr is installed; cannot pull $IMAGE"
  fi
  say "pulled: $IMAGE"
}

# ------------------------------------------------------------- configuration

install_config() {
  local content current
  current=$(resolve "$CONFIG_FILE")
  if [ -n "$CONFIG_SRC" ]; then
    [ -f "$CONFIG_SRC" ] || die "config file $CONFIG_SRC does not exist"
    grep -Eq '^version:[[:space:]]*1[[:space:]]*(#.*)?$' "$CONFIG_SRC" || die "$CONFIG_SRC is not an accel-agent config (no 'version: 1' line)"
    content=$(cat "$CONFIG_SRC"; printf x)
    put_content "$CONFIG_FILE" 0644 "${content%x}"
    if [ "$WROTE" = 1 ]; then AGENT_CHANGED=1; fi
  elif [ -e "$current" ]; then
    say "kept: $CONFIG_FILE"
  else
    put_text "$CONFIG_FILE" 0644 <<'EOF'
# accel-agent configuration. The installer keeps this file once it exists.
# Every key, its flag and its default: accel-agent run --help.
version: 1
logLevel: info
EOF
  fi
}

install_host_dirs() {
  local entry
  for entry in "${HOST_DIRS[@]}"; do ensure_dir "${entry%:*}" "${entry##*:}"; done
  # /run is a tmpfs: its directories are recreated at every boot.
  put_text "$TMPFILES_FILE" 0644 <<'EOF'
# accel-agent: CDI specs written at run time and the agent's API socket.
d /run/cdi 0755 root root -
d /run/accel-agent 0750 root root -
EOF
  if live; then
    systemd-tmpfiles --create "$TMPFILES_FILE" || say "warning: systemd-tmpfiles failed; the agent creates its directories itself"
  fi
}

# ---------------------------------------------------------------- containerd

# Edits one table of a TOML file on stdin: each `key=value` of SETS is made
# to hold exactly that value, and array LISTKEY is made to contain every item
# of LISTVALS; keys the table lacks are added after its last entry, and a
# missing table is appended. Everything else is passed through as it was.
# Exit 3: LISTKEY spans several lines; 4: the table is defined twice; 5: a
# line sets plugin GUARD through a dotted key or inline table, which an
# appended table would collide with.
toml_ensure() {
  awk -v want="$1" -v header="$2" -v sets="$3" -v listkey="$4" -v listvals="$5" -v guard="$6" '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function lead(s) { sub(/[^ \t].*$/, "", s); return s }
function norm(s) { gsub(/["\047]/, "", s); gsub(/[ \t]*\.[ \t]*/, ".", s); return trim(s) }
function table_name(line,   s) { s = line; sub(/^[ \t]*\[/, "", s); sub(/\][ \t]*(#.*)?$/, "", s); return norm(s) }
function key_of(line,   s) { if (line !~ /^[ \t]*[A-Za-z0-9_-]+[ \t]*=/) return ""; s = line; sub(/=.*$/, "", s); return trim(s) }
function value_of(line,   s) { s = line; sub(/^[^=]*=/, "", s); sub(/[ \t]*#[^"\047]*$/, "", s); return trim(s) }
# A plain string reads the same in either quote style.
function unquote(v) { if (v ~ /^"[^"\\]*"$/ || v ~ /^\047[^\047]*\047$/) return "s:" substr(v, 2, length(v) - 2); return v }
# Net [ minus ] outside quoted strings, to know when a value spans lines.
function depth_change(line,   i, c, q, d) {
  d = 0; q = ""
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (q != "") { if (c == q) q = ""; continue }
    if (c == "\"" || c == "\047") q = c
    else if (c == "#") break
    else if (c == "[") d++
    else if (c == "]") d--
  }
  return d
}
function list_line(ind, items, n, quote,   i, s) {
  s = ind listkey " = ["
  for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") quote items[i] quote
  return s "]"
}
function merged_list(line, ind,   v, rest, n, items, have, quote, i, added) {
  v = value_of(line); n = 0; quote = "\""; added = 0
  rest = v
  while (match(rest, /"[^"]*"|\047[^\047]*\047/)) {
    items[++n] = substr(rest, RSTART + 1, RLENGTH - 2)
    if (n == 1) quote = substr(rest, RSTART, 1)
    have[items[n]] = 1
    rest = substr(rest, RSTART + RLENGTH)
  }
  for (i = 1; i <= nl; i++) if (!(L[i] in have)) { items[++n] = L[i]; added = 1 }
  return added ? list_line(ind, items, n, quote) : line
}
function emit_missing(   i) {
  for (i = 1; i <= ns; i++) if (!seen[i]) print indent SK[i] " = " SV[i]
  if (nl > 0 && !listseen) print list_line(indent, L, nl, "\"")
}
function flush_blanks(   j) { for (j = 1; j <= nb; j++) print B[j]; nb = 0 }
BEGIN {
  ns = split(sets, S, "\n")
  for (i = 1; i <= ns; i++) { SK[i] = S[i]; sub(/=.*$/, "", SK[i]); SV[i] = S[i]; sub(/^[^=]*=/, "", SV[i]) }
  nl = listkey == "" ? 0 : split(listvals, L, "\n")
  want = norm(want)
}
{
  line = $0
  if (depth == 0 && line ~ /^[ \t]*\[/) {
    if (insec) emit_missing()
    flush_blanks()
    insec = 0
    if (line !~ /^[ \t]*\[\[/ && table_name(line) == want) {
      if (found) dup = 1
      insec = 1; found = 1; indent = lead(line) "  "; indented = 0
    }
    print line
    last = line
    next
  }
  if (guard != "" && depth == 0 && index(line, "=")) {
    k = substr(line, 1, index(line, "=") - 1)
    if (index(k, "\"" guard "\"") || index(k, "\047" guard "\047")) { collide = 1; exit 5 }
  }
  if (insec) {
    if (line ~ /^[ \t]*$/) { B[++nb] = line; next }
    flush_blanks()
    k = key_of(line)
    if (k != "" && depth == 0) {
      if (!indented) { indent = lead(line); indented = 1 }
      for (i = 1; i <= ns; i++) if (k == SK[i]) {
        seen[i] = 1
        if (unquote(value_of(line)) != unquote(SV[i])) line = lead(line) SK[i] " = " SV[i]
      }
      if (nl > 0 && k == listkey) {
        listseen = 1
        if (depth_change(line) != 0) { multiline = 1; exit 3 }
        line = merged_list(line, lead(line))
      }
    }
  }
  depth += depth_change(line)
  print line
  last = line
}
END {
  if (multiline) exit 3
  if (collide) exit 5
  if (insec) { emit_missing(); flush_blanks() }
  else if (!found) {
    flush_blanks()
    if (NR > 0 && last !~ /^[ \t]*$/) print ""
    print "[" header "]"
    indent = "  "
    emit_missing()
  }
  if (dup) exit 4
}'
}

# The version key at the top of a containerd config on stdin (1 when absent).
config_version() {
  awk '/^[ \t]*\[/ { exit } /^[ \t]*version[ \t]*=/ { v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[^0-9].*$/, "", v); print v; exit }'
}

# containerd's version as MAJOR.MINOR, or nothing when unknown.
containerd_version() {
  if [ -n "$CONTAINERD_VERSION" ]; then
    printf '%s\n' "${CONTAINERD_VERSION#v}" | grep -Eo '^[0-9]+\.[0-9]+'
  elif [ "$ROOT_REAL" = / ] && command -v containerd >/dev/null 2>&1; then
    containerd --version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 | grep -Eo '^[0-9]+\.[0-9]+' || true
  fi
}

version_at_least() { # VERSION MAJOR MINOR
  local major=${1%%.*} minor=${1#*.}
  [ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

# The CRI plugin's table, and its id, for a config format version.
cri_table() {
  case $1 in
    3) CRI_TABLE="plugins.'io.containerd.cri.v1.runtime'"; CRI_ID=io.containerd.cri.v1.runtime ;;
    2) CRI_TABLE='plugins."io.containerd.grpc.v1.cri"'; CRI_ID=io.containerd.grpc.v1.cri ;;
    *) CRI_TABLE=plugins.cri; CRI_ID= ;;
  esac
}

# Runs toml_ensure over CONTAINERD_TEXT, replacing it with the result.
edit_containerd_text() { # TABLE SETS LISTKEY LISTVALS
  local out rc=0
  out=$(printf '%s' "$CONTAINERD_TEXT" | toml_ensure "$1" "$1" "$2" "$3" "$4" "$CRI_ID" && printf x) || rc=$?
  case $rc in
    0) CONTAINERD_TEXT=${out%x} ;;
    3) die "$CONTAINERD_CONFIG: cdi_spec_dirs spans several lines; put it on one line or set it by hand" ;;
    4) die "$CONTAINERD_CONFIG: table [$1] is defined twice; containerd would refuse this file" ;;
    5) die "$CONTAINERD_CONFIG: sets the CRI plugin with dotted keys or an inline table; edit it by hand" ;;
    *) die "$CONTAINERD_CONFIG: editing failed" ;;
  esac
}

# Works out the new containerd config before anything is written, so a
# config the editor refuses stops the run with the node untouched. Sets
# CONTAINERD_PLAN (skip or write), CONTAINERD_TEXT and CONTAINERD_ORIGINAL.
plan_containerd() {
  local target version format use_cdi dirs original=
  CONTAINERD_PLAN='skip'
  target=$(resolve "$CONTAINERD_CONFIG")
  version=$(containerd_version)

  if [ -f "$target" ]; then
    original=$(cat "$target"; printf x)
    original=${original%x}
    format=$(printf '%s' "$original" | config_version)
  elif [ -z "$version" ]; then
    say "skipped: no $CONTAINERD_CONFIG and containerd's version is unknown (pass --containerd-version)"
    return 0
  elif version_at_least "$version" 2 0 && [ "$CDI_MODE" != no ]; then
    say "unchanged: containerd $version applies CDI specs by default; no $CONTAINERD_CONFIG needed"
    return 0
  elif version_at_least "$version" 2 0; then
    format=3
  else
    format=2
  fi
  if [ -f "$target" ]; then
    CONTAINERD_TEXT=$original
  else
    printf -v CONTAINERD_TEXT 'version = %s\n' "$format"
  fi

  case $CDI_MODE in
    yes | no) use_cdi=$([ "$CDI_MODE" = yes ] && echo 1 || echo 0) ;;
    auto)
      if [ -z "$version" ] || version_at_least "$version" 1 7; then use_cdi=1; else use_cdi=0; fi
      if [ -z "$version" ]; then say "note: containerd's version is unknown; assuming it applies CDI specs (1.7 or newer)"; fi
      ;;
  esac
  if [ "$use_cdi" = 1 ] && [ -n "$version" ] && ! version_at_least "$version" 1 7; then
    die "containerd $version cannot apply CDI specs (1.7 or newer can); use --cdi no to register $RUNTIME_HANDLER"
  fi

  cri_table "${format:-1}"
  if [ "$use_cdi" = 1 ]; then
    dirs=$(printf '%s\n' "${CDI_SPEC_DIRS[@]}")
    edit_containerd_text "$CRI_TABLE" 'enable_cdi=true' cdi_spec_dirs "$dirs"
  else
    edit_containerd_text "$CRI_TABLE.containerd.runtimes.$RUNTIME_HANDLER" 'runtime_type="io.containerd.runc.v2"' '' ''
    edit_containerd_text "$CRI_TABLE.containerd.runtimes.$RUNTIME_HANDLER.options" "BinaryName=\"$RUNTIME_BINARY\"" '' ''
  fi

  CONTAINERD_PLAN='write'
  CONTAINERD_ORIGINAL=$original
  CONTAINERD_HANDLER=$((1 - use_cdi))
  if [ "$use_cdi" = 1 ]; then
    CONTAINERD_SUMMARY="CDI enabled (spec dirs ${CDI_SPEC_DIRS[*]})"
  else
    CONTAINERD_SUMMARY="runtime handler $RUNTIME_HANDLER -> $RUNTIME_BINARY"
  fi
}

apply_containerd() {
  local target runtime
  if [ "$CONTAINERD_PLAN" != write ]; then return 0; fi
  target=$(resolve "$CONTAINERD_CONFIG")
  if [ -n "$CONTAINERD_ORIGINAL" ] && [ "$CONTAINERD_ORIGINAL" != "$CONTAINERD_TEXT" ] && [ ! -e "$target.accel-agent.orig" ]; then
    if [ "$DRY_RUN" = 1 ]; then
      say "would save: $CONTAINERD_CONFIG.accel-agent.orig"
    else
      cp -p "$target" "$target.accel-agent.orig"
      say "saved: $CONTAINERD_CONFIG.accel-agent.orig"
    fi
  fi
  put_content "$CONTAINERD_CONFIG" 0644 "$CONTAINERD_TEXT"
  CONTAINERD_CHANGED=$WROTE
  say "containerd: $CONTAINERD_SUMMARY"
  # Checked now rather than when planning: the release just installed may have provided it.
  if [ "$CONTAINERD_HANDLER" = 1 ]; then
    runtime=$(resolve "$RUNTIME_BINARY")
    if [ ! -e "$runtime" ]; then
      say "warning: $RUNTIME_BINARY does not exist yet; pods using runtime class $RUNTIME_HANDLER fail until it does"
    fi
  fi
}

restart_containerd() {
  if [ "$CONTAINERD_CHANGED" = 0 ]; then return 0; fi
  if ! live || [ "$RESTART" = 0 ]; then
    say "skipped (running system): restart containerd to apply $CONTAINERD_CONFIG"
    return 0
  fi
  systemctl restart containerd || die "containerd did not restart; its previous configuration is $CONTAINERD_CONFIG.accel-agent.orig"
  say "restarted: containerd"
}

# ------------------------------------------------------------------- systemd

install_unit() {
  put_text "$UNIT_FILE" 0644 <<EOF
[Unit]
Description=accel-agent: accelerator discovery, CDI specs, health and telemetry
After=local-fs.target containerd.service

[Service]
Type=simple
ExecStart=$NODE_BIN $INSTALL_DIR/current/bin/accel-agent.js run --config $CONFIG_FILE
Environment=MALLOC_ARENA_MAX=2
Environment=NODE_OPTIONS=--max-semi-space-size=1
Restart=always
RestartSec=5
TimeoutStopSec=30
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
EOF
  if ! live; then
    say "skipped (running system): systemctl enable --now accel-agent.service"
    return 0
  fi
  systemctl daemon-reload
  systemctl enable accel-agent.service >/dev/null
  if [ "$WROTE" = 1 ] || [ "$AGENT_CHANGED" = 1 ]; then
    systemctl restart accel-agent.service
    say "restarted: accel-agent.service"
  else
    systemctl start accel-agent.service
  fi
}

main() {
  parse_args "$@"
  [ "$DRY_RUN" = 0 ] || say "dry run: nothing is changed"
  [ "$ROOT_REAL" = / ] || say "acting on the tree at $ROOT_REAL"
  AGENT_CHANGED=0
  CONTAINERD_CHANGED=0
  WROTE=0
  plan_containerd
  if [ -n "$IMAGE" ]; then pull_image; fi
  if [ -n "$TARBALL" ]; then
    install_tarball
    install_wrappers
  fi
  install_config
  install_host_dirs
  apply_containerd
  restart_containerd
  if [ "$SYSTEMD" = 1 ]; then install_unit; fi
  say "done"
}

main "$@"

#!/usr/bin/env bash
# Regenerate ../conformance/vectors.rs from real git: run `git daemon` behind a recording TCP proxy,
# drive clones, fetches, pushes and ls-remotes with protocol v0, v1 and v2, and print each
# connection's packets as Rust byte strings. Dates and identities are fixed, so object ids are
# stable; the agent string is whatever `git --version` is (the vectors were made with 2.47.3).
#
#   bash capture.sh > ../conformance/vectors.rs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lab=$(mktemp -d)
export HOME=$lab GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=T GIT_AUTHOR_EMAIL=t@example.com \
       GIT_COMMITTER_NAME=T GIT_COMMITTER_EMAIL=t@example.com
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ts=1704067200
commit() { # commit <repo> <file> <content>
  ts=$((ts + 86400))
  echo "$3" > "$1/$2"; git -C "$1" add "$2"
  GIT_AUTHOR_DATE="@$ts +0000" GIT_COMMITTER_DATE="@$ts +0000" git -C "$1" commit -qm "$2"
}

cd "$lab"
git init -q -b main work
commit work f1 1; commit work f2 2; commit work f3 3
GIT_COMMITTER_DATE="@$ts +0000" git -C work tag -a v1 -m tag1 HEAD~1
git -C work tag light HEAD~2
git -C work branch side HEAD~1
git clone -q --bare work srv/repo.git
git init -q --bare -b main srv/empty.git
git --git-dir=srv/repo.git config uploadpack.allowFilter true
git --git-dir=srv/repo.git config receive.advertisePushOptions true

daemon_port=$(free_port); proxy_port=$(free_port)
git daemon --export-all --base-path="$lab/srv" --enable=receive-pack --listen=127.0.0.1 \
  --port="$daemon_port" --reuseaddr 2>/dev/null &
daemon_pid=$!
mkdir cap
python3 "$here/proxy.py" "$proxy_port" "$daemon_port" cap &
proxy_pid=$!
trap 'kill $proxy_pid $daemon_pid 2>/dev/null; rm -rf "$lab"' EXIT
sleep 1
U=git://127.0.0.1:$proxy_port
run() { echo "$1" > cap/current; shift; "$@" >/dev/null 2>&1 || true; sleep 0.3; }

run lsremote_v0 git -c protocol.version=0 ls-remote $U/repo.git
run lsremote_v1 git -c protocol.version=1 ls-remote $U/repo.git
run lsremote_v2 git -c protocol.version=2 ls-remote $U/repo.git
run clone_v0 git -c protocol.version=0 clone -q $U/repo.git c0
run clone_v2 git -c protocol.version=2 clone -q $U/repo.git c2
run shallow_v0 git -c protocol.version=0 clone -q --depth 1 $U/repo.git cs0
run shallow_v2 git -c protocol.version=2 clone -q --depth 1 $U/repo.git cs2
run filter_v0 git -c protocol.version=0 clone -q --no-checkout --filter=blob:none $U/repo.git cf0
run filter_v2 git -c protocol.version=2 clone -q --no-checkout --filter=blob:limit=1k $U/repo.git cf2
run since_v0 git -c protocol.version=0 clone -q --shallow-since=@$((ts - 43200)) $U/repo.git cd0
run not_v2 git -c protocol.version=2 clone -q --shallow-exclude=side $U/repo.git cn2
run deepen_v0 git -C cs0 -c protocol.version=0 fetch -q --no-tags --deepen=1
run deepen_v2 git -C cs2 -c protocol.version=2 fetch -q --no-tags --deepen=1
run empty_v0 git -c protocol.version=0 clone -q $U/empty.git ce0
run empty_v2 git -c protocol.version=2 clone -q $U/empty.git ce2
git --git-dir=srv/repo.git config uploadpack.allowRefInWant true
run refinwant_v2 git -c protocol.version=2 clone -q $U/repo.git cr2
run refinwant_shallow_v2 git -c protocol.version=2 clone -q --depth 1 $U/repo.git crs2
git --git-dir=srv/repo.git config --unset uploadpack.allowRefInWant

commit c0 f4 4
run push_v0 git -C c0 -c protocol.version=0 push -q origin main
commit c0 f5 5
run push_options git -C c0 -c protocol.version=2 push -q --atomic -o ci.skip -o "msg=hello world" \
  origin main main:refs/heads/newbranch
run push_delete_v1 git -C c0 -c protocol.version=1 push -q origin :refs/heads/newbranch
git --git-dir=srv/repo.git config receive.denyNonFastForwards true
run push_ng git -C c2 -c protocol.version=0 push -q --force origin HEAD~2:refs/heads/side
git --git-dir=srv/repo.git config --unset receive.denyNonFastForwards
run push_empty git -C c0 -c protocol.version=0 push -q $U/empty.git main
run fetch_v0 git -C c2 -c protocol.version=0 fetch -q origin

# Many local commits the server lacks: several rounds of haves.
for r in m0 m2; do
  git clone -q srv/repo.git $r; git -C $r reset -q --hard origin/side
  for i in $(seq 1 40); do commit $r loc $i; done
  git -C $r remote set-url origin $U/repo.git
  git -C $r update-ref -d refs/remotes/origin/main; git -C $r update-ref -d refs/remotes/origin/side
done
commit c0 f6 6; git -C c0 push -q origin main 2>/dev/null
run rounds_v0 git -C m0 -c protocol.version=0 fetch -q --no-tags origin main
run rounds_v2 git -C m2 -c protocol.version=2 fetch -q --no-tags origin main
run notourref_v2 git -C c2 -c protocol.version=2 fetch -q origin 0123456789012345678901234567890123456789
run norepo_v0 git -c protocol.version=0 ls-remote $U/nope.git

emit() { # emit <tag> <c2s|s2c> <CONST_NAME>
  local file; file=$(ls cap/"$1".*."$2" | sort -t. -k2 -n | head -1)
  python3 "$here/packets_to_rust.py" "$file" "$3" | sed "s/127\.0\.0\.1:$proxy_port/127.0.0.1:12345/g"
  echo
}
echo "//! Packets captured from git $(git --version | cut -d' ' -f3) talking to \`git daemon\`;"
echo "//! regenerate with \`bash tests/capture/capture.sh > tests/conformance/vectors.rs\`."
echo "//! Each constant is one direction of one connection, one packet per line; a pack is cut"
echo "//! to its 12-byte header; server answers (\`…_S\`) stop where the side-band pack data starts."
echo
for tag in lsremote_v0 lsremote_v1 lsremote_v2 clone_v0 clone_v2 shallow_v0 shallow_v2 filter_v0 \
           filter_v2 since_v0 not_v2 deepen_v0 deepen_v2 empty_v0 empty_v2 refinwant_v2 \
           refinwant_shallow_v2 push_v0 push_options push_delete_v1 push_ng push_empty fetch_v0 \
           rounds_v0 rounds_v2 notourref_v2; do
  emit $tag c2s "$(echo $tag | tr a-z A-Z)_C"
done
for tag in lsremote_v0 lsremote_v1 lsremote_v2 clone_v0 clone_v2 shallow_v0 shallow_v2 deepen_v0 \
           deepen_v2 empty_v0 empty_v2 refinwant_v2 refinwant_shallow_v2 fetch_v0 rounds_v0 \
           rounds_v2 push_v0 push_options push_delete_v1 push_ng push_empty notourref_v2 norepo_v0; do
  emit $tag s2c "$(echo $tag | tr a-z A-Z)_S"
done

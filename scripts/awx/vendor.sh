# shellcheck shell=bash
# The AWX and django-ansible-base sources the local AWX installs (sourced by install.sh after
# env.sh). awx_vendor_dir prints the directory holding the two archives, checked:
#   1. $AWX_VENDOR (default: ../shared/vendor beside this clone) with its SHA256SUMS;
#   2. else the archives fetched earlier into $AWX_CACHE/vendor;
#   3. else, when upstream can be reached, the two tagged source archives fetched there;
# each archive must be the `git archive` of its pinned commit (git writes the commit id into the
# archive's header). Otherwise it fails saying what is missing and how to provide it.

AWX_COMMIT=94e5795dfc37b95c576d61f3e3b4e936c021548c  # tag 24.6.1 of ansible/awx
DAB_COMMIT=42d6f626b0decddfa678cb8cfb8aa9002a1b235a  # tag 2024.7.1 of ansible/django-ansible-base
AWX_UPSTREAM=https://github.com/ansible/awx/archive/refs/tags/$AWX_VERSION.tar.gz
DAB_UPSTREAM=https://github.com/ansible/django-ansible-base/archive/refs/tags/$DAB_VERSION.tar.gz
AWX_ARCHIVES=("awx-$AWX_VERSION.tar.gz" "django-ansible-base-$DAB_VERSION.tar.gz")

# _archive_commit FILE: the commit id git archive recorded in FILE (empty if none or unreadable).
_archive_commit() {
  python3 - "$1" <<'EOF' 2>/dev/null || true
import sys, tarfile
with tarfile.open(sys.argv[1]) as archive:
    archive.next()
    print(archive.pax_headers.get("comment", ""))
EOF
}

# _archives_match DIR: both archives in DIR are those of the pinned commits.
_archives_match() {
  [ "$(_archive_commit "$1/${AWX_ARCHIVES[0]}")" = "$AWX_COMMIT" ] &&
    [ "$(_archive_commit "$1/${AWX_ARCHIVES[1]}")" = "$DAB_COMMIT" ]
}

_fetch_upstream() {
  local dir="$AWX_CACHE/vendor" url name
  mkdir -p "$dir"
  for pair in "$AWX_UPSTREAM ${AWX_ARCHIVES[0]}" "$DAB_UPSTREAM ${AWX_ARCHIVES[1]}"; do
    read -r url name <<<"$pair"
    echo "awx-install: fetching $name from $url" >&2
    curl -fsSL --connect-timeout 10 --max-time 600 -o "$dir/$name.part" "$url" || return 1
    mv "$dir/$name.part" "$dir/$name"
  done
  _archives_match "$dir" || {
    echo "awx-install: the fetched archives are not the pinned commits $AWX_COMMIT / $DAB_COMMIT" >&2
    return 1
  }
  (cd "$dir" && sha256sum "${AWX_ARCHIVES[@]}" > SHA256SUMS)
}

awx_vendor_dir() {
  local vendor="$AWX_VENDOR" missing=() name
  if [ -f "$vendor/SHA256SUMS" ]; then
    (cd "$vendor" && sha256sum -c --quiet SHA256SUMS) >&2 ||
      { echo "awx-install: $vendor: the archives do not match its SHA256SUMS" >&2; return 1; }
    _archives_match "$vendor" ||
      { echo "awx-install: $vendor: the archives are not the pinned commits" >&2; return 1; }
    echo "$vendor"
    return 0
  fi
  if [ -f "$AWX_CACHE/vendor/SHA256SUMS" ] && (cd "$AWX_CACHE/vendor" && sha256sum -c --quiet SHA256SUMS) &&
    _archives_match "$AWX_CACHE/vendor"; then
    echo "$AWX_CACHE/vendor"
    return 0
  fi
  if command -v curl >/dev/null && _fetch_upstream; then
    echo "$AWX_CACHE/vendor"
    return 0
  fi
  for name in SHA256SUMS "${AWX_ARCHIVES[@]}"; do
    [ -e "$vendor/$name" ] || missing+=("$name")
  done
  cat >&2 <<EOF
awx-install: the AWX sources are missing: no ${missing[*]} in
  $vendor
and upstream could not be reached to fetch them. make awx-up needs two source archives, each the
\`git archive\` of a tag, with a SHA256SUMS file listing them:
  ${AWX_ARCHIVES[0]}  (ansible/awx, tag $AWX_VERSION, commit $AWX_COMMIT)
  ${AWX_ARCHIVES[1]}  (ansible/django-ansible-base, tag $DAB_VERSION, commit $DAB_COMMIT)
Provide them with AWX_VENDOR=/path/to/that/directory make awx-up (default: shared/vendor beside
this clone's directory), or run it on a machine that reaches upstream: the archives are then
fetched into $AWX_CACHE/vendor. See docs/awx.md, "The AWX sources".
EOF
  return 1
}

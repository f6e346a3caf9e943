#!/usr/bin/env bash
# The compose `backup` and `restore` services (docker-compose.yml; docs/operations.md). Runs in
# the postgres image (pg_dump, psql, tar, sha256sum) and writes the same folder layout as
# `make backup` (devtools/src/chat_devtools/backup.py), so either tool verifies either's backups:
#
#   /backups/chat-<UTC time>/manifest.json, SHA256SUMS, databases/<name>.dump (pg_dump custom
#   format), auth-keys.tar (auth-service's signing keys), files.tar (file-service's store, when
#   any; its .spool of unfinished uploads left out)
#
#   backup.sh schedule      one backup now unless one is younger than a day, then one a day at
#                           CHAT_BACKUP_AT (UTC); each is followed by pruning to CHAT_BACKUP_KEEP
#   backup.sh once          one backup now, then prune
#   backup.sh check         healthcheck: the newest complete backup is younger than 25 hours
#   backup.sh restore DIR   verify DIR's checksums, then restore every database and directory;
#                           refuses (exit 2, nothing changed) when a target database is not empty
#                           or has connections, or a directory is not empty, unless FORCE=1
#
# Environment: libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD; CHAT_BACKUP_DIR (/backups);
# CHAT_BACKUP_DATABASES ("chat_auth chat_files chat_messages chat_presence", dumped in this
# order: producers of events before their consumers; an item NAME=ACTUAL dumps or restores
# database ACTUAL under the name NAME); CHAT_BACKUP_KEYS_DIR and CHAT_BACKUP_FILE_DIR (archived
# when present and not empty, after the dumps); CHAT_BACKUP_KEYS_OWNER / CHAT_BACKUP_FILE_OWNER
# (uid:gid given to restored keys / files, the services' 10001:10001); CHAT_BACKUP_AT (03:00);
# CHAT_BACKUP_KEEP (14); CHAT_BACKUP_OWNER_SUFFIX (unset: restored objects are PGUSER's; set, e.g.
# `_owner`: each restored database ACTUAL and every object in it belong to the existing role
# ACTUAL<suffix>, its connections closed to other roles, as compose's database-owners leaves it;
# a missing role refuses the restore before anything changes).
set -euo pipefail
umask 077

DIR="${CHAT_BACKUP_DIR:-/backups}"
DATABASES="${CHAT_BACKUP_DATABASES:-chat_auth chat_files chat_messages chat_presence}"
KEYS_DIR="${CHAT_BACKUP_KEYS_DIR:-}"
FILE_DIR="${CHAT_BACKUP_FILE_DIR:-}"
KEYS_OWNER="${CHAT_BACKUP_KEYS_OWNER:-}"
FILE_OWNER="${CHAT_BACKUP_FILE_OWNER:-}"
AT="${CHAT_BACKUP_AT:-03:00}"
KEEP="${CHAT_BACKUP_KEEP:-14}"
OWNER_SUFFIX="${CHAT_BACKUP_OWNER_SUFFIX:-}"
MAX_AGE_MIN=$((25 * 60))
RELATIONS="SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"

log() { printf '%s backup: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
now_iso() { date -u +%FT%TZ; }
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
non_empty_dir() { [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; }
# The file store holds more than file-service's (possibly empty) spool.
has_files() { [ -d "$1" ] && [ -n "$(ls -A "$1" | grep -vx '.spool')" ]; }
name_of() { printf '%s' "${1%%=*}"; }
actual_of() { printf '%s' "${1#*=}"; }
# The role that owns restored database $1 (empty: PGUSER keeps what it restores).
owner_of() { [ -z "$OWNER_SUFFIX" ] || printf '%s%s' "$1" "$OWNER_SUFFIX"; }

# tar of a directory's contents, numeric owners kept; prints the JSON of its manifest entry.
# Left out: keys being written (.*.tmp) and file-service's spool (uploads in progress).
archive() {  # name file source work
  local count
  tar -C "$3" --numeric-owner --exclude='.*.tmp' --exclude='./.spool' -cf "$4/$2" .
  count="$(find "$3" -path "$3/.spool" -prune -o -type f ! -name '.*.tmp' -print | wc -l)"
  log "$1: $count file(s) from $3"
  printf '{"name": "%s", "file": "%s", "source_dir": "%s", "files": %s, "bytes": %s, "sha256": "%s"}' \
    "$1" "$2" "$3" "$count" "$(size "$4/$2")" "$(sha "$4/$2")"
}

once() {
  local stamp final work item name actual dbs="" archives="" notes="" server revision started
  started="$(now_iso)"
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  final="$DIR/chat-$stamp"
  work="$final.partial"
  mkdir -p "$work/databases"
  server="$(sql postgres 'SHOW server_version')"
  for item in $DATABASES; do
    name="$(name_of "$item")"
    actual="$(actual_of "$item")"
    revision=""
    if [ "$(sql "$actual" "SELECT to_regclass('public.alembic_version') IS NOT NULL")" = t ]; then
      revision="$(sql "$actual" 'SELECT version_num FROM alembic_version LIMIT 1')"
    fi
    pg_dump --format=custom --no-password --file="$work/databases/$name.dump" --dbname="$actual"
    log "$name ($actual) dumped"
    dbs+="${dbs:+, }$(printf '{"name": "%s", "source_database": "%s", "file": "databases/%s.dump", "bytes": %s, "sha256": "%s", "server_version": "%s", "alembic_revision": %s, "dumped_at": "%s"}' \
      "$name" "$actual" "$name" "$(size "$work/databases/$name.dump")" \
      "$(sha "$work/databases/$name.dump")" "$server" \
      "$([ -n "$revision" ] && printf '"%s"' "$revision" || printf null)" "$(now_iso)")"
  done
  if [ -n "$KEYS_DIR" ] && non_empty_dir "$KEYS_DIR"; then
    archives+="$(archive auth-keys auth-keys.tar "$KEYS_DIR" "$work")"
  else
    notes+="\"no auth-service signing keys at ${KEYS_DIR:-(unset)}\""
  fi
  if [ -n "$FILE_DIR" ] && has_files "$FILE_DIR"; then
    archives+="${archives:+, }$(archive files files.tar "$FILE_DIR" "$work")"
  else
    notes+="${notes:+, }\"no file store at ${FILE_DIR:-(unset)} (nothing to archive)\""
  fi
  cat >"$work/manifest.json" <<EOF
{
  "format": "chat-backup/1",
  "created_at": "$started",
  "finished_at": "$(now_iso)",
  "host": "$(hostname)",
  "tools": {"pg_dump": "$(pg_dump --version | grep -o '[0-9][0-9.]*' | head -1)", "server": "$server"},
  "packages": {},
  "git_commit": null,
  "databases": [$dbs],
  "archives": [$archives],
  "notes": [$notes]
}
EOF
  (cd "$work" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum >SHA256SUMS)
  mv "$work" "$final"
  log "complete: $final"
  prune
}

prune() {
  local old
  # Complete backups beyond the newest KEEP, and interrupted ones older than a day.
  find "$DIR" -mindepth 1 -maxdepth 1 -type d -name 'chat-*Z' -printf '%f\n' | sort -r \
    | tail -n +$((KEEP + 1)) | while read -r old; do
      log "pruning $old"
      rm -rf -- "${DIR:?}/$old"
    done
  find "$DIR" -mindepth 1 -maxdepth 1 -type d -name 'chat-*.partial' -mmin +1440 \
    -exec rm -rf -- {} +
}

recent() {
  [ -n "$(find "$DIR" -mindepth 1 -maxdepth 1 -type d -name 'chat-*Z' -mmin -"$1" | head -1)" ]
}

schedule() {
  local now next
  trap 'log "stopping"; exit 0' TERM INT
  mkdir -p "$DIR"
  # `once` in its own process: inside `a || b` bash ignores `set -e` in a function's body.
  recent 1440 || "$0" once || log "backup failed; next attempt at $AT UTC"
  while true; do
    now="$(date -u +%s)"
    next="$(date -u -d "today $AT" +%s)"
    [ "$next" -gt "$now" ] || next="$(date -u -d "tomorrow $AT" +%s)"
    log "next backup at $(date -u -d "@$next" +%FT%TZ)"
    sleep $((next - now)) &
    wait $!
    "$0" once || log "backup failed; next attempt tomorrow at $AT UTC"
  done
}

restore() {
  local backup="$1" item name actual owner dump exists relations connections conflicts=() stamp
  [ -f "$backup/manifest.json" ] || { log "$backup: no manifest.json, not a backup"; exit 1; }
  (cd "$backup" && sha256sum --quiet -c SHA256SUMS) || { log "$backup is damaged"; exit 1; }
  declare -A target=()
  for item in $DATABASES; do target["$(name_of "$item")"]="$(actual_of "$item")"; done
  for dump in "$backup"/databases/*.dump; do
    name="$(basename "$dump" .dump)"
    actual="${target[$name]:-$name}"
    owner="$(owner_of "$actual")"
    if [ -n "$owner" ] && [ "$(sql postgres "SELECT count(*) FROM pg_roles WHERE rolname = '$owner'")" != 1 ]; then
      log "restore refused, nothing changed: role $owner (owner of $actual) does not exist; create it first (compose: database-owners)"
      exit 1
    fi
    exists="$(sql postgres "SELECT count(*) FROM pg_database WHERE datname = '$actual'")"
    [ "$exists" = 1 ] || continue
    relations="$(sql "$actual" "$RELATIONS")"
    connections="$(sql postgres "SELECT count(*) FROM pg_stat_activity
      WHERE datname = '$actual' AND pid <> pg_backend_pid()")"
    [ "$relations" = 0 ] || conflicts+=("database $actual holds $relations relation(s)")
    [ "$connections" = 0 ] || conflicts+=("database $actual has $connections connection(s): stop the services")
  done
  if [ -f "$backup/auth-keys.tar" ] && non_empty_dir "${KEYS_DIR:?set CHAT_BACKUP_KEYS_DIR}"; then
    conflicts+=("$KEYS_DIR is not empty (auth-keys)")
  fi
  if [ -f "$backup/files.tar" ] && non_empty_dir "${FILE_DIR:?set CHAT_BACKUP_FILE_DIR}"; then
    conflicts+=("$FILE_DIR is not empty (files)")
  fi
  if [ "${#conflicts[@]}" -gt 0 ] && [ "${FORCE:-0}" != 1 ]; then
    printf 'restore refused, nothing changed:\n' >&2
    printf '  %s\n' "${conflicts[@]}" >&2
    printf 'Stop the services, or overwrite with FORCE=1 (databases dropped; directories saved to %s first).\n' "$DIR" >&2
    exit 2
  fi
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  for dump in "$backup"/databases/*.dump; do
    name="$(basename "$dump" .dump)"
    actual="${target[$name]:-$name}"
    relations=0
    if [ "$(sql postgres "SELECT count(*) FROM pg_database WHERE datname = '$actual'")" = 1 ]; then
      relations="$(sql "$actual" "$RELATIONS")"
      connections="$(sql postgres "SELECT count(*) FROM pg_stat_activity
        WHERE datname = '$actual' AND pid <> pg_backend_pid()")"
      if [ "$relations" != 0 ] || [ "$connections" != 0 ]; then dropdb --force "$actual"; fi
    fi
    sql postgres "SELECT 1 FROM pg_database WHERE datname = '$actual'" | grep -q 1 \
      || createdb "$actual"
    owner="$(owner_of "$actual")"
    if [ -n "$owner" ]; then
      # The owner role's database, closed to others; the restore runs as that role (SET ROLE),
      # so every object it creates is the role's.
      sql postgres "ALTER DATABASE \"$actual\" OWNER TO \"$owner\"; REVOKE ALL ON DATABASE \"$actual\" FROM PUBLIC"
    fi
    pg_restore --no-password --no-owner --no-privileges --exit-on-error --single-transaction \
      ${owner:+--role="$owner"} --dbname="$actual" "$dump"
    log "restored $name into $actual"
  done
  restore_dir() {  # archive dir label
    [ -f "$1" ] || return 0
    mkdir -p "$2"
    if non_empty_dir "$2"; then
      tar -C "$2" --numeric-owner -cf "$DIR/$3-before-restore-$stamp.tar" .
      find "$2" -mindepth 1 -delete
      log "saved the old $2 to $DIR/$3-before-restore-$stamp.tar"
    fi
    tar -C "$2" --numeric-owner -xf "$1"
    log "restored $3 into $2"
  }
  restore_dir "$backup/auth-keys.tar" "${KEYS_DIR:-}" auth-keys
  if [ -f "$backup/auth-keys.tar" ]; then
    [ -z "$KEYS_OWNER" ] || chown -R "$KEYS_OWNER" "$KEYS_DIR"
    chmod 700 "$KEYS_DIR"
  fi
  restore_dir "$backup/files.tar" "${FILE_DIR:-}" files
  if [ -f "$backup/files.tar" ] && [ -n "$FILE_OWNER" ]; then chown -R "$FILE_OWNER" "$FILE_DIR"; fi
  log "restore complete from $backup; start the services (their migrations run first)"
}

case "${1:-}" in
  schedule) schedule ;;
  once) mkdir -p "$DIR"; once ;;
  check) recent "$MAX_AGE_MIN" ;;
  restore) [ -n "${2:-}" ] || { echo "usage: $0 restore DIR" >&2; exit 1; }; restore "${2%/}" ;;
  *) echo "usage: $0 schedule|once|check|restore DIR" >&2; exit 1 ;;
esac

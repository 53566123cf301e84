#!/usr/bin/env bash
# Makes internal/secret/testdata/vectors.jsonl ONCE with the real tools
# (Debian 12 packages: apache2-utils, php-cli, python3-django,
# python3-argon2, python3-bcrypt, python3-passlib, python3-werkzeug).
# The unit tests only read the committed file; CI needs none of these
# packages. Debian's own python3 (/usr/bin/python3) is used. Run from the repository root: bash internal/secret/testdata/gen-vectors.sh
set -euo pipefail
out=internal/secret/testdata/vectors.jsonl
PW1='correct horse battery staple'
PW2='pässwörd ✓ 72'
ver() { dpkg-query -W -f='${Package} ${Version}' "$1"; }
emit() { # format password hash source
	/usr/bin/python3 -c 'import json,sys; print(json.dumps({"format":sys.argv[1],"password":sys.argv[2],"hash":sys.argv[3],"source":sys.argv[4]}, ensure_ascii=False))' "$@"
}
: >"$out"
for pw in "$PW1" "$PW2"; do
	h=$(htpasswd -nbB -C 10 user "$pw" | cut -d: -f2-)
	emit bcrypt "$pw" "$h" "htpasswd -nbB -C 10 ($(ver apache2-utils))" >>"$out"
	for algo in PASSWORD_BCRYPT PASSWORD_ARGON2I PASSWORD_ARGON2ID; do
		h=$(php -r 'echo password_hash($argv[1], constant($argv[2]));' "$pw" "$algo")
		emit "php-$algo" "$pw" "$h" "php password_hash($algo) ($(ver php8.2-cli))" >>"$out"
	done
	/usr/bin/python3 - "$pw" "$(ver python3-django) $(ver python3-argon2) $(ver python3-bcrypt)" >>"$out" <<'PY'
import json, sys
from django.conf import settings
settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.UnsaltedMD5PasswordHasher",
    "django.contrib.auth.hashers.UnsaltedSHA1PasswordHasher",
])
from django.contrib.auth.hashers import make_password
pw, ver = sys.argv[1], sys.argv[2]
for h in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "unsalted_md5", "unsalted_sha1"]:
    print(json.dumps({"format": "django-" + h, "password": pw, "hash": make_password(pw, hasher=h),
                      "source": "django make_password(hasher=%r) (%s)" % (h, ver)}, ensure_ascii=False))
PY
	/usr/bin/python3 - "$pw" "$(ver python3-passlib)" >>"$out" <<'PY'
import json, sys
from passlib.hash import pbkdf2_sha256, pbkdf2_sha512, pbkdf2_sha1
pw, ver = sys.argv[1], sys.argv[2]
for name, h in [("pbkdf2_sha256", pbkdf2_sha256), ("pbkdf2_sha512", pbkdf2_sha512), ("pbkdf2_sha1", pbkdf2_sha1)]:
    print(json.dumps({"format": "passlib-" + name, "password": pw, "hash": h.hash(pw),
                      "source": "passlib.hash.%s.hash (%s)" % (name, ver)}, ensure_ascii=False))
PY
	/usr/bin/python3 - "$pw" "$(ver python3-werkzeug)" >>"$out" <<'PY'
import json, sys
from werkzeug.security import generate_password_hash
pw, ver = sys.argv[1], sys.argv[2]
for m in ["pbkdf2:sha256", "pbkdf2:sha1:100000", "pbkdf2:sha512:50000"]:
    print(json.dumps({"format": "werkzeug-" + m, "password": pw, "hash": generate_password_hash(pw, method=m),
                      "source": "werkzeug.security.generate_password_hash(method=%r) (%s)" % (m, ver)}, ensure_ascii=False))
PY
done

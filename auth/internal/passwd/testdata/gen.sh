#!/bin/sh
# gen.sh writes vectors.tsv: password hashes computed independently of the
# Go code, with openssl (digests, PBKDF2) and Python's crypt module
# (bcrypt, through libxcrypt). Run it from this folder:
#
#	sh gen.sh > vectors.tsv
#
# Columns, tab-separated: hash setting, password, salt, expected stored
# value, tool. Passwords and salts are written as Go-style hex ("x:" and
# hex digits) when they hold bytes a TSV cannot carry, else as is.
set -eu
PY=/usr/bin/python3

hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

digest() { # name openssl-name password salt position
	case $5 in
	none) in=$3 ;;
	prefix) in=$4$3 ;;
	suffix) in=$3$4 ;;
	esac
	out=$(printf '%s' "$in" | openssl dgst -"$2" -r | cut -d' ' -f1)
	case $5 in
	none) spec=$1 ;;
	prefix) spec=salt,$1 ;;
	suffix) spec=$1,salt ;;
	esac
	printf '%s\tx:%s\tx:%s\t%s\topenssl dgst -%s\n' "$spec" "$(hexof "$3")" "$(hexof "$4")" "$out" "$2"
}

echo "# hash	password	salt	want	tool"
for pw in public "" "pass word" "' or '1'='1" "%u%c%P" "пароль密码"; do
	printf 'plain\tx:%s\tx:\t%s\tidentity\n' "$(hexof "$pw")" "$pw"
	for a in md5:md5 sha:sha1 sha256:sha256 sha512:sha512; do
		digest "${a%%:*}" "${a#*:}" "$pw" "" none
	done
done
for salt in salt 2a1f "s@lt with spaces"; do
	for pw in public "' or '1'='1"; do
		for a in md5:md5 sha:sha1 sha256:sha256 sha512:sha512; do
			digest "${a%%:*}" "${a#*:}" "$pw" "$salt" prefix
			digest "${a%%:*}" "${a#*:}" "$pw" "$salt" suffix
		done
	done
done
for mac in md4:MD4 md5:MD5 ripemd160:RIPEMD160 sha:SHA1 sha224:SHA224 sha256:SHA256 sha384:SHA384 sha512:SHA512; do
	for p in "1000 20" "1 32" "4096 64"; do
		set -- $p
		out=$(openssl kdf -keylen "$2" -kdfopt digest:"${mac#*:}" -kdfopt pass:public -kdfopt salt:salt \
			-kdfopt iter:"$1" -provider legacy -provider default PBKDF2 | tr -d ':\n' | tr 'A-F' 'a-f')
		printf 'pbkdf2,%s,%s,%s\tx:%s\tx:%s\t%s\topenssl kdf PBKDF2\n' "${mac%%:*}" "$1" "$2" "$(hexof public)" "$(hexof salt)" "$out"
	done
done
$PY - <<'PYEOF'
import crypt, warnings
warnings.simplefilter("ignore")
def hx(s): return "x:" + s.encode().hex()
for salt in ["$2b$04$abcdefghijklmnopqrstuu", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.", "$2y$04$saltsaltsaltsaltsalt..", "$2b$06$0123456789./ABCDEFGHIJ"]:
    for pw in ["public", "", "' or '1'='1", "x" * 80]:
        out = crypt.crypt(pw, salt)
        print("salt,bcrypt\t%s\t%s\t%s\tpython3 crypt (libxcrypt)" % (hx(pw), hx(salt), out))
PYEOF

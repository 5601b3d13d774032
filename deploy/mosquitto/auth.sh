#!/bin/sh
# The mosquitto-auth service of docker-compose.yml: writes Mosquitto's password file (hashed by
# its own mosquitto_passwd) from the secrets MQTT_PASSWORD_<IDENTITY>, one for every `user` of
# the ACL (upper case, '-' as '_': slc-mqtt-a -> MQTT_PASSWORD_SLC_MQTT_A), and the simulated
# devices' credentials (STREETLIGHT_SIM_DEVICE_CREDENTIALS) for the device classes. A missing
# secret, or one that is not URL-safe (it goes into mqtt:// URLs), stops it with a message.
set -eu
umask 077
ACL=${MOSQUITTO_ACL:-/deploy/acl}  # the variables: for the test that runs it outside Docker
OUT=${MOSQUITTO_AUTH_DIR:-/auth}
ROLES="gateway controller api simulator operator admin"  # streetlight/services/_mqtt_auth.py

passwords="$OUT/passwd.new"
devices="$OUT/device-credentials.json.new"
: > "$passwords"
printf '{' > "$devices"
separator=""
for user in $(sed -n 's/^user //p' "$ACL"); do
    variable="MQTT_PASSWORD_$(echo "$user" | tr 'a-z-' 'A-Z_')"
    eval "password=\${$variable:-}"
    if [ -z "$password" ]; then
        echo "mosquitto-auth: $variable is not set (see .env.example)" >&2
        exit 1
    fi
    case "$password" in
        *[!A-Za-z0-9._~-]*)
            echo "mosquitto-auth: $variable may hold only letters, digits, '.', '_', '~', '-'" >&2
            exit 1 ;;
    esac
    printf '%s:%s\n' "$user" "$password" >> "$passwords"
    case " $ROLES " in
        *" $user "*) ;;
        *) printf '%s"%s": "%s"' "$separator" "$user" "$password" >> "$devices"; separator=", " ;;
    esac
done
printf '}\n' >> "$devices"
mosquitto_passwd -U "$passwords"
chown 1883:1883 "$passwords"        # the image's mosquitto user
chown 1000:1000 "$devices"          # the streetlight image's user (Dockerfile)
chmod 0400 "$devices"
mv "$passwords" "$OUT/passwd"
mv "$devices" "$OUT/device-credentials.json"
echo "mosquitto-auth: identities $(sed -n 's/^user //p' "$ACL" | tr '\n' ' ')"

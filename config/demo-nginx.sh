#!/bin/bash
# Runs nginx in daemon mode under pidshim: start, reload (HUP), stop (TERM), and shows what
# happened at each step. Usage: demo-nginx.sh [PATH-TO-PIDSHIM]
set -eu
pidshim=${1:-pidshim}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
dir=$(mktemp -d /tmp/pidshim-demo.XXXXXX)
port=18080
trap 'kill "$shim" 2>/dev/null || true; rm -rf "$dir"' EXIT

cat > "$dir/nginx.conf" <<CONF
daemon on;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
worker_processes 2;
events {}
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "hello from nginx\n"; }
    }
}
CONF

workers() { ps -o pid= --ppid "$(cat "$dir/nginx.pid")" | tr -s ' \n' ' '; }
wait_for() { # wait_for SECONDS COMMAND...: poll until COMMAND succeeds, or fail
    limit=$(( $1 * 10 )); shift
    while ! "$@" >/dev/null 2>&1; do
        limit=$((limit - 1)); [ "$limit" -gt 0 ] || { echo "timed out: $*"; exit 1; }
        sleep 0.1
    done
}
served() { (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3) | tail -n 1; }

echo "== start: $pidshim $dir/nginx.pid $nginx -e $dir/error.log -p $dir -c $dir/nginx.conf"
"$pidshim" "$dir/nginx.pid" "$nginx" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" &
shim=$!
wait_for 10 test -s "$dir/nginx.pid"
wait_for 10 served
echo "   pidshim pid $shim, nginx master $(cat "$dir/nginx.pid"), workers: $(workers)"
echo "   GET / -> $(served)"

echo "== reload: kill -HUP $shim (pidshim forwards it to the nginx master)"
before=$(workers)
kill -HUP "$shim"
for old in $before; do wait_for 10 sh -c "! ps -o stat= -p $old | grep -qv Z"; done
echo "   workers were: $before"
echo "   workers now:  $(workers)"

echo "== stop: kill -TERM $shim"
master=$(cat "$dir/nginx.pid")
kill -TERM "$shim"
status=0
wait "$shim" || status=$?
shim=
if kill -0 "$master" 2>/dev/null; then echo "   nginx master $master still runs"; exit 1; fi
echo "   pidshim exited with status $status after nginx master $master was gone"

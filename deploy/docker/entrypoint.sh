#!/bin/sh
# The image's entry point.
#   lab-entrypoint IMPL SERVICE [FLAGS...]   one service: python -m IMPL_impl.SERVICE FLAGS
#   lab-entrypoint                           the same, from LAB_IMPL and LAB_SERVICE
#   lab-entrypoint COMMAND [ARGS...]         anything else (locust, lab, python) as given
# A service reads the settings `lab up` gives it (LAB_DSN, LAB_NATS_URL, LAB_<PEER>_ADDR, ...)
# from the environment, and stops gracefully on SIGTERM.
set -eu

usage() {
    echo "usage: lab-entrypoint {sync|async} {posts|comments|moderation|query} [FLAGS...]" >&2
    echo "       lab-entrypoint COMMAND [ARGS...]   (e.g. locust, lab, python)" >&2
}

if [ "$#" -eq 0 ]; then
    set -- "${LAB_IMPL:-}" "${LAB_SERVICE:-}"
fi
case "$1" in
    sync | async)
        impl="$1"
        service="${2:-}"
        case "$service" in
            posts | comments | moderation | query) ;;
            *) usage; exit 2 ;;
        esac
        shift 2
        exec python -m "${impl}_impl.${service}" "$@"
        ;;
    --help | -h)
        usage
        exit 0
        ;;
    "")
        usage
        exit 2
        ;;
    *)
        exec "$@"
        ;;
esac

#!/bin/sh
echo "always broken" >&2
exit 1

# Sourced by the scripts: a PATH with Go on it, and the module cache where Go keeps it.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH=$PATH:/usr/local/go/bin ;; esac
export PATH

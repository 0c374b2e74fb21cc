# Raw TCP proxy that records each direction of each connection to files.
import socket, threading, sys, os, itertools
listen_port, target_port, outdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
counter = itertools.count()
def pump(src, dst, f):
    try:
        while True:
            d = src.recv(65536)
            if not d: break
            f.write(d); f.flush()
            dst.sendall(d)
    except OSError: pass
    finally:
        try: dst.shutdown(socket.SHUT_WR)
        except OSError: pass
def handle(c):
    n = next(counter)
    tag = open(os.path.join(outdir, "current")).read().strip() if os.path.exists(os.path.join(outdir,"current")) else "conn"
    s = socket.create_connection(("127.0.0.1", target_port))
    fc = open(os.path.join(outdir, f"{tag}.{n}.c2s"), "wb")
    fs = open(os.path.join(outdir, f"{tag}.{n}.s2c"), "wb")
    t1 = threading.Thread(target=pump, args=(c, s, fc)); t2 = threading.Thread(target=pump, args=(s, c, fs))
    t1.start(); t2.start(); t1.join(); t2.join(); fc.close(); fs.close(); c.close(); s.close()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port)); ls.listen(16)
while True:
    c, _ = ls.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()

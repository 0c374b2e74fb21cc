# Print a captured byte stream as a Rust `&[&[u8]]` of packets. A raw pack after the pkt-lines
# (a push) is cut to its 12-byte header; side-band pack data (a fetch) is left out entirely.
import sys
def esc(b):
    out = []
    for x in b:
        if x == 0x5c: out.append('\\\\')
        elif x == 0x22: out.append('\\"')
        elif x == 10: out.append('\\n')
        elif x == 0: out.append('\\0')
        elif 32 <= x < 127: out.append(chr(x))
        else: out.append('\\x%02x' % x)
    return ''.join(out)
path, name = sys.argv[1], sys.argv[2]
keep = 12
data = open(path, 'rb').read()
print(f"pub const {name}: &[&[u8]] = &[")
i = 0
while i < len(data):
    try:
        ln = int(data[i:i+4], 16)
    except ValueError:
        print(f'    b"{esc(data[i:i+keep])}",'); break
    ln = max(ln, 4)
    if data[i+4:i+9] == b"\x01PACK": break
    print(f'    b"{esc(data[i:i+ln])}",'); i += ln
print("];")

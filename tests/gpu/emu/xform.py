"""Turns backends/cuda/gpu_kernels.cu into C++ for the CPU emulation (emu.h):
the compat header is swapped for emu.h and every kernel<<<grid, block, shmem,
stream>>>(args) launch becomes emu_launch(grid, block, shmem, stream, kernel,
args). Usage: xform.py IN.cu OUT.cpp"""
import re, sys
s = open(sys.argv[1]).read()
s = s.replace('#include "gpu_compat.h"', '#include "emu.h"')
pat = re.compile(r'([A-Za-z_]\w*(?:<[^<>;]*>)?)\s*<<<(.*?)>>>\s*\((.*?)\);', re.S)
s, n = pat.subn(lambda m: 'emu_launch(%s, %s, %s);' % (m.group(2), m.group(1), m.group(3)), s)
sys.stderr.write('launches rewritten: %d\n' % n)
open(sys.argv[2], 'w').write(s)

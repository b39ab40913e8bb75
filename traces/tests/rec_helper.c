/* rec_helper: a tiny program for the recorder tests, with a known set of written pages.
 * It maps 64 pages at a fixed address (so the test finds them in the trace's map) and
 * writes pages 1, 2, 3, 10, 33 and 63 with non-zero bytes.
 *   rec_helper          write, then exit
 *   rec_helper wait     wait for a byte on stdin, write, print "w", wait for EOF, exit
 * Built without sanitizers: the recorder preloads a plain library into it. */

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ADDR  ((void *)0x5a0000000000UL)
#define PAGES 64

int main(int argc, char **argv)
{
    static const int written[] = { 1, 2, 3, 10, 33, 63 };
    char b;
    unsigned char *m = mmap(ADDR, PAGES * 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m != ADDR)
        return 2;
    int wait = argc > 1 && !strcmp(argv[1], "wait");
    if (wait && read(0, &b, 1) != 1)
        return 3;
    for (unsigned i = 0; i < sizeof(written) / sizeof(written[0]); i++)
        memset(m + written[i] * 4096, 0x40 + written[i], 4096);
    if (wait) {
        if (write(1, "w", 1) != 1)
            return 4;
        while (read(0, &b, 1) > 0)
            ;
    }
    return 0;
}

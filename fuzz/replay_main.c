/* replay_main: runs a libFuzzer harness over every file of the corpus directories given on
 * the command line, once each, so the seed corpus is a regression test without clang.
 * Exit status 0 means every input was handled without a crash (sanitizers abort). */
#include <dirent.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a harness, as with libFuzzer. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path)
{
    gchar *data;
    gsize len;
    GError *err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "replay: %s\n", err->message);
        g_error_free(err);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    g_free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, failures = 0;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: cannot stat %s\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failures += run_file(argv[i]);
            files++;
            continue;
        }
        GDir *dir = g_dir_open(argv[i], 0, NULL);
        if (!dir)
            return 1;
        /* Sorted, so a failure is reproducible by its position. */
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *n;
        while ((n = g_dir_read_name(dir)))
            g_ptr_array_add(names, g_strdup(n));
        g_dir_close(dir);
        g_ptr_array_sort(names, cmp_names);
        for (guint k = 0; k < names->len; k++) {
            gchar *p = g_build_filename(argv[i], g_ptr_array_index(names, k), NULL);
            failures += run_file(p);
            files++;
            g_free(p);
        }
        g_ptr_array_free(names, TRUE);
    }
    printf("replayed %d inputs, %d unreadable\n", files, failures);
    return failures ? 1 : 0;
}

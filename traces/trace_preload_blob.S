/* trace_preload_blob: the preload library's bytes inside migbench, so `trace record` can
 * write it to a temporary file and LD_PRELOAD it wherever the binary runs.  PRELOAD_PATH is
 * set by traces/meson.build to the freshly built libmbpreload.so. */
    .section .rodata
    .balign 16
    .globl trace_preload_blob
    .type trace_preload_blob, @object
trace_preload_blob:
    .incbin PRELOAD_PATH
    .globl trace_preload_blob_end
    .type trace_preload_blob_end, @object
trace_preload_blob_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits

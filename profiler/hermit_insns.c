/*
 * hermit_insns: a QEMU TCG plugin that counts the guest instructions executed
 * per translation block, for pytest-hermit's --hermit-profile.
 *
 * Each translated block gets one 64-bit counter that generated code bumps
 * inline every time the block runs (no callback per block or instruction: the
 * cost is one add per block). The same address can be translated again with
 * another length (icount splits blocks at its budget, code gets flushed), so a
 * counter belongs to (address, instructions) and survives retranslation.
 *
 * At exit the counters go to the file named by the plugin argument out=PATH,
 * one text line per block that ran:
 *
 *     # hermit-insns 1
 *     <start address, hex> <instructions in the block> <executions>
 *
 * written to PATH.tmp and renamed, so a reader never sees half a file. A block
 * left early (a fault in its middle) is counted whole: the counts are an upper
 * bound by those instructions, identical from run to run under icount.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

typedef struct {
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t executions; /* bumped by generated code */
} Block;

static GHashTable *blocks; /* (vaddr, n_insns) -> Block*, never freed before exit */
static GMutex lock;        /* translation runs on every vCPU thread under MTTCG */
static char *out_path;

static guint block_hash(gconstpointer key)
{
    const Block *b = key;
    return g_int64_hash(&b->vaddr) ^ (guint)(b->n_insns * 2654435761u);
}

static gboolean block_equal(gconstpointer a, gconstpointer b)
{
    const Block *x = a, *y = b;
    return x->vaddr == y->vaddr && x->n_insns == y->n_insns;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    Block key = {.vaddr = qemu_plugin_tb_vaddr(tb), .n_insns = qemu_plugin_tb_n_insns(tb)};
    Block *block;

    g_mutex_lock(&lock);
    block = g_hash_table_lookup(blocks, &key);
    if (block == NULL) {
        block = g_new0(Block, 1);
        *block = key;
        g_hash_table_add(blocks, block);
    }
    g_mutex_unlock(&lock);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &block->executions, 1);
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp", out_path);
    GHashTableIter iter;
    gpointer key;
    FILE *f = fopen(tmp, "w");

    if (f == NULL) {
        g_autofree char *msg = g_strdup_printf("hermit_insns: cannot write %s: %s\n", tmp, g_strerror(errno));
        qemu_plugin_outs(msg);
        return;
    }
    fprintf(f, "# hermit-insns 1\n");
    g_mutex_lock(&lock);
    g_hash_table_iter_init(&iter, blocks);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        const Block *b = key;
        if (b->executions != 0) {
            fprintf(f, "%" PRIx64 " %" PRIu64 " %" PRIu64 "\n", b->vaddr, b->n_insns, b->executions);
        }
    }
    g_mutex_unlock(&lock);
    if (fclose(f) != 0 || rename(tmp, out_path) != 0) {
        g_autofree char *msg = g_strdup_printf("hermit_insns: cannot write %s: %s\n", out_path, g_strerror(errno));
        qemu_plugin_outs(msg);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "out=")) {
            out_path = g_strdup(argv[i] + strlen("out="));
        } else {
            fprintf(stderr, "hermit_insns: unknown argument %s (expected out=PATH)\n", argv[i]);
            return -1;
        }
    }
    if (out_path == NULL || *out_path == '\0') {
        fprintf(stderr, "hermit_insns: no output file: pass -plugin hermit_insns.so,out=PATH\n");
        return -1;
    }
    blocks = g_hash_table_new(block_hash, block_equal);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}

/* Redirecting stdout and stderr with fd_renumber, as yosys does around its built-in ABC.
 *
 * yosys saves stdout/stderr by renumbering them onto two scratch descriptors (which leaves
 * 1 and 2 closed), tries to renumber a log file onto 1 and 2 (EBADF: they are closed now),
 * runs ABC (which opens and closes files of its own), fails to renumber the saved streams
 * back, closes them, and then opens its output files and goes on printing its log to fd 1.
 * Under wasmtime, descriptor numbers are handed out highest-closed-first, so the output
 * files never land on 1 or 2 and the log is lost (EBADF); a host that reuses the lowest
 * free number puts the first output file on fd 1 and the log into the netlist.
 *
 * The results are written into report.txt (stdout is gone by then); descriptor numbers
 * themselves are never printed (hosts may pick them as they like).
 */
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

static char report[4096];
static size_t used;

static void note(const char *label, i32 e) {
    used += (size_t)snprintf(report + used, sizeof report - used, "%s: %s\n", label, en(e));
}

static int open_w(const char *path) { return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644); }

int main(void) {
    printf("before the redirection\n");
    fflush(stdout);

    int log = open_w("/sandbox/stdouterr.txt");
    int save_out = open_w("/sandbox/stdouterr.txt");
    int save_err = open_w("/sandbox/stdouterr.txt");
    note("renumber 1 -> save_out", w_fd_renumber(1, (u32)save_out));
    note("renumber 2 -> save_err", w_fd_renumber(2, (u32)save_err));
    note("renumber log -> 1", w_fd_renumber((u32)log, 1));
    note("renumber log -> 2", w_fd_renumber((u32)log, 2));
    note("close log", w_fd_close((u32)log));

    /* "ABC": a script and a netlist of its own, opened and closed */
    int script = open_w("/sandbox/abc.script");
    note("abc.script opened", script < 0 ? E_BADF : E_SUCCESS);
    int blif = open_w("/sandbox/input.blif");
    note("input.blif opened", blif < 0 ? E_BADF : E_SUCCESS);
    printf("abc log line\n");
    fflush(stdout);
    note("close input.blif", w_fd_close((u32)blif));
    note("close abc.script", w_fd_close((u32)script));

    note("renumber save_out -> 1", w_fd_renumber((u32)save_out, 1));
    note("renumber save_err -> 2", w_fd_renumber((u32)save_err, 2));
    note("close save_out", w_fd_close((u32)save_out));
    note("close save_err", w_fd_close((u32)save_err));

    /* the outputs, and yosys's log going on on fd 1 */
    int out_v = open_w("/sandbox/out.v");
    int out_json = open_w("/sandbox/out.json");
    printf("yosys log line\n");
    fflush(stdout);
    fprintf(stderr, "yosys warning\n");
    fflush(stderr);
    u32 n;
    note("write out.v", write_str((u32)out_v, "module top; endmodule\n", &n));
    note("write out.json", write_str((u32)out_json, "{\"modules\": {}}\n", &n));
    close(out_v);
    close(out_json);

    int rep = open_w("/sandbox/report.txt");
    write(rep, report, used);
    close(rep);
    return 0;
}

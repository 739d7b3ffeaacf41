// Hodegos Go HTTP tracer: uprobes on net/http's server and client, compiled once per kernel (BCC, in a
// short-lived helper process) and loaded from that compiled form by the agent, which never maps LLVM.
//
// Per-process struct field offsets arrive through `offsets_by_pid`, so one compiled program serves every
// traced binary and Go version. Requests are keyed by (pid, goroutine): Go's ABIInternal keeps the
// current g in R14 at every instruction of Go code, including each RET. Return probes sit on each RET
// instruction (never uretprobes, which break Go's stack copying). Maps are LRU, so a panic that skips
// the RET leaks nothing. Finished requests go to a ring buffer without waking the reader; the agent
// drains it on a timer.
#include <uapi/linux/ptrace.h>

#define METHOD_LEN 16
#define PATH_LEN 128
#define HOST_LEN 64
#define SCHEME_LEN 16
#define REMOTE_LEN 64
#define TP_LEN 56           /* 55 characters of a W3C traceparent, plus padding */
#define TP_HEADER_LEN 68    /* "traceparent: " + 55 */
#define REENTRY_NS 100000000ULL
/* A captured header line is used only by a ServeHTTP that starts this soon after on the same goroutine:
   a line stored by a goroutine that never serves (a client's response reader) must not reach whichever
   goroutine later reuses its g. */
#define TP_FRESH_NS 1000000000ULL

#define KIND_SERVER 1
#define KIND_CLIENT 2
#define FLAG_TRACEPARENT 1
#define FLAG_CLIENT_ERROR 2
#define FLAG_NO_STATUS 4
#define FLAG_LOCAL_PARENT 8

struct offsets_t {
    u64 req_method;
    u64 req_url;
    u64 req_proto_major;
    u64 req_remote_addr;
    u64 url_scheme;
    u64 url_host;
    u64 url_path;
    u64 response_status;         /* net/http.response.status (server side, HTTP/1) */
    u64 client_response_status;  /* net/http.Response.StatusCode */
};

struct gkey_t {
    u32 pid;
    u32 pad;
    u64 g;
};

struct req_t {
    u32 kind;
    u32 pid;
    u64 g;
    u64 start_ns;
    u64 end_ns;
    u64 req_ptr;
    u64 rw_ptr;
    u64 span_id;
    u64 parent_span_id;
    u64 trace_hi;
    u64 trace_lo;
    s64 status;
    u32 proto_major;
    u32 flags;
    char method[METHOD_LEN];
    char path[PATH_LEN];
    char host[HOST_LEN];
    char scheme[SCHEME_LEN];
    char remote[REMOTE_LEN];
    char traceparent[TP_LEN];
};

struct tp_t {
    u64 seen_ns;
    char value[TP_LEN];
};

BPF_HASH(offsets_by_pid, u32, struct offsets_t, 4096);
BPF_TABLE("lru_hash", struct gkey_t, struct req_t, server_reqs, 16384);
BPF_TABLE("lru_hash", struct gkey_t, struct req_t, client_reqs, 16384);
BPF_TABLE("lru_hash", struct gkey_t, struct tp_t, traceparents, 16384);
BPF_PERCPU_ARRAY(scratch, struct req_t, 1);
/* 512 pages (2 MiB, about 4,600 records): 350 ms of spans at 13,000 requests/s before a stalled drain loses
   any. The agent may size it differently at load time (--ring-buffer-pages) without compiling again. */
BPF_RINGBUF_OUTPUT(events, 512);
BPF_PERCPU_ARRAY(lost, u64, 1); /* records the ring buffer had no room for (the drain fell behind) */
/* The same losses per traced process, so each workload learns its own. The agent creates a zero entry
   when it attaches and reads it back; an entry missing here is created on the spot. */
BPF_HASH(lost_by_pid, u32, u64, 4096);

static __always_inline void emit(struct req_t *r) {
    if (events.ringbuf_output(r, sizeof(*r), BPF_RB_NO_WAKEUP) != 0) {
        u32 zero = 0;
        u64 *n = lost.lookup(&zero);
        if (n)
            *n += 1;
        u32 pid = r->pid;
        u64 *mine = lost_by_pid.lookup(&pid);
        if (!mine) {
            u64 none = 0;
            lost_by_pid.insert(&pid, &none);
            mine = lost_by_pid.lookup(&pid);
        }
        if (mine)
            __sync_fetch_and_add(mine, 1);
    }
}

static __always_inline u64 rand64(void) {
    return ((u64)bpf_get_prandom_u32() << 32) | bpf_get_prandom_u32();
}

/* A Go string is {ptr, len} with no NUL: clamp len to the buffer, which is a power of two. */
static __always_inline void read_go_string(char *dst, u32 cap, u64 header) {
    u64 pair[2] = {};
    if (bpf_probe_read_user(pair, sizeof(pair), (void *)header) != 0 || pair[0] == 0)
        return;
    u64 n = pair[1];
    if (n > cap - 1)
        n = cap - 1;
    n &= (cap - 1);
    bpf_probe_read_user(dst, n, (void *)pair[0]);
}

static __always_inline struct req_t *fresh_record(u32 kind, u32 pid, u64 g, u64 req) {
    u32 zero = 0;
    struct req_t *r = scratch.lookup(&zero);
    if (!r)
        return 0;
    __builtin_memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->pid = pid;
    r->g = g;
    r->req_ptr = req;
    r->start_ns = bpf_ktime_get_ns();
    r->span_id = rand64();
    return r;
}

static __always_inline int reentered(struct req_t *old, u64 req) {
    /* morestack re-runs a function from its entry after growing the stack: keep the first record. */
    return old && old->req_ptr == req && bpf_ktime_get_ns() - old->start_ns < REENTRY_NS;
}

/* Entry of net/http.serverHandler.ServeHTTP(sh, rw ResponseWriter, req *Request):
   RAX = sh.srv, RBX/RCX = rw (itab, data), RDI = req. */
int server_entry(struct pt_regs *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct offsets_t *off = offsets_by_pid.lookup(&pid);
    if (!off)
        return 0;
    struct gkey_t key = {.pid = pid, .g = ctx->r14};
    u64 req = ctx->di;
    if (reentered(server_reqs.lookup(&key), req))
        return 0;
    struct req_t *r = fresh_record(KIND_SERVER, pid, key.g, req);
    if (!r)
        return 0;
    r->rw_ptr = ctx->cx;
    r->trace_hi = rand64();
    r->trace_lo = rand64();
    read_go_string(r->method, METHOD_LEN, req + off->req_method);
    read_go_string(r->remote, REMOTE_LEN, req + off->req_remote_addr);
    u64 url = 0;
    bpf_probe_read_user(&url, sizeof(url), (void *)(req + off->req_url));
    if (url)
        read_go_string(r->path, PATH_LEN, url + off->url_path);
    s64 proto_major = 0;
    bpf_probe_read_user(&proto_major, sizeof(proto_major), (void *)(req + off->req_proto_major));
    r->proto_major = (u32)proto_major;
    struct tp_t *tp = traceparents.lookup(&key);
    if (tp) {
        if (r->start_ns - tp->seen_ns < TP_FRESH_NS) {
            __builtin_memcpy(r->traceparent, tp->value, TP_LEN);
            r->flags |= FLAG_TRACEPARENT;
        }
        traceparents.delete(&key);
    }
    server_reqs.update(&key, r);
    return 0;
}

/* Each RET of ServeHTTP: the handler has run; for HTTP/1 rw is *response, whose status is final unless the
   handler wrote nothing (0 here, 200 on the wire). */
int server_return(struct pt_regs *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct gkey_t key = {.pid = pid, .g = ctx->r14};
    struct req_t *r = server_reqs.lookup(&key);
    if (!r)
        return 0;
    struct offsets_t *off = offsets_by_pid.lookup(&pid);
    if (off && r->proto_major == 1) {
        s64 status = 0;
        bpf_probe_read_user(&status, sizeof(status), (void *)(r->rw_ptr + off->response_status));
        r->status = status;
    } else {
        r->flags |= FLAG_NO_STATUS;
    }
    r->end_ns = bpf_ktime_get_ns();
    emit(r);
    server_reqs.delete(&key);
    return 0;
}

/* Each RET of net/textproto.(*Reader).readContinuedLineSlice: the header line ([]byte in RAX, RBX).
   Reading only: nothing is written to the target's memory. */
int header_return(struct pt_regs *ctx) {
    u64 len = ctx->bx;
    if (len < TP_HEADER_LEN - 1)
        return 0;
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    char line[TP_HEADER_LEN] = {};
    if (bpf_probe_read_user(line, sizeof(line), (void *)ctx->ax) != 0)
        return 0;
    const char want[] = "traceparent:";
#pragma unroll
    for (int i = 0; i < 11; i++) {
        if ((line[i] | 0x20) != want[i])
            return 0;
    }
    if (line[11] != ':')
        return 0;
    int start = line[12] == ' ' ? 13 : 12;
    struct tp_t tp = {};
    if (start == 13)
        __builtin_memcpy(tp.value, line + 13, 55);
    else
        __builtin_memcpy(tp.value, line + 12, 55);
    tp.seen_ns = bpf_ktime_get_ns();
    struct gkey_t key = {.pid = pid, .g = ctx->r14};
    traceparents.update(&key, &tp);
    return 0;
}

/* Entry of net/http.(*Transport).roundTrip(t, req *Request): RAX = t, RBX = req. */
int client_entry(struct pt_regs *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct offsets_t *off = offsets_by_pid.lookup(&pid);
    if (!off)
        return 0;
    struct gkey_t key = {.pid = pid, .g = ctx->r14};
    u64 req = ctx->bx;
    if (reentered(client_reqs.lookup(&key), req))
        return 0;
    struct req_t *r = fresh_record(KIND_CLIENT, pid, key.g, req);
    if (!r)
        return 0;
    struct req_t *server = server_reqs.lookup(&key);
    if (server) {
        r->parent_span_id = server->span_id;
        r->trace_hi = server->trace_hi;
        r->trace_lo = server->trace_lo;
        r->flags |= FLAG_LOCAL_PARENT | (server->flags & FLAG_TRACEPARENT);
        __builtin_memcpy(r->traceparent, server->traceparent, TP_LEN);
    } else {
        r->trace_hi = rand64();
        r->trace_lo = rand64();
    }
    read_go_string(r->method, METHOD_LEN, req + off->req_method);
    u64 url = 0;
    bpf_probe_read_user(&url, sizeof(url), (void *)(req + off->req_url));
    if (url) {
        read_go_string(r->scheme, SCHEME_LEN, url + off->url_scheme);
        read_go_string(r->host, HOST_LEN, url + off->url_host);
        read_go_string(r->path, PATH_LEN, url + off->url_path);
    }
    client_reqs.update(&key, r);
    return 0;
}

/* Each RET of roundTrip: RAX = *Response (nil on error), RBX/RCX = error. */
int client_return(struct pt_regs *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    struct gkey_t key = {.pid = pid, .g = ctx->r14};
    struct req_t *r = client_reqs.lookup(&key);
    if (!r)
        return 0;
    struct offsets_t *off = offsets_by_pid.lookup(&pid);
    u64 resp = ctx->ax;
    if (off && resp) {
        s64 status = 0;
        bpf_probe_read_user(&status, sizeof(status), (void *)(resp + off->client_response_status));
        r->status = status;
    }
    if (ctx->bx)
        r->flags |= FLAG_CLIENT_ERROR;
    r->end_ns = bpf_ktime_get_ns();
    emit(r);
    client_reqs.delete(&key);
    return 0;
}

/* Never attached: loading it tells whether kernel lockdown forbids writing user memory. */
int lockdown_check(struct pt_regs *ctx) {
    u64 value = 0;
    bpf_probe_write_user((void *)ctx->sp, &value, sizeof(value));
    return 0;
}

/* Benchmark floor: the same probe sites with programs that only count their hits. */
BPF_PERCPU_ARRAY(noop_hits, u64, 1);

int noop(struct pt_regs *ctx) {
    u32 zero = 0;
    u64 *hits = noop_hits.lookup(&zero);
    if (hits)
        *hits += 1;
    return 0;
}

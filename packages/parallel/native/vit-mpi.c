/*
 * vit_mpi: the MPI C API for @vit/parallel's "mpi" backend (src/backends/mpi.ts), as a Node-API addon.
 *
 * Every MPI call runs on one dedicated thread, in the order JavaScript submitted it. That serves two
 * purposes: collectives never block Node's event loop (each resolves a promise through a thread-safe
 * function), and MPI sees one FIFO of calls per process, which is what its ordering rule asks for (every
 * rank issues the collectives of a communicator in the same order). One thread also means MPI_THREAD_SERIALIZED
 * would do; we ask for MPI_THREAD_MULTIPLE so that abort() from the main thread is legal while the worker is
 * inside a collective, and report what the library provided.
 *
 * Reductions run in float64 (f32 payloads are widened first, and rounded once at the end), like the host
 * reference in host-collectives.ts: the f64 sum of a few f32 values is exact, so the result does not depend on
 * the order MPI's algorithm adds them in and is bit-identical on every rank and to the TCP backend. Dtype
 * T_F32_NATIVE (VIT_MPI_REDUCE=f32) reduces f32 as f32 instead: half the bytes, MPI's rounding order.
 * Errors: communicators use MPI_ERRORS_RETURN; an error rejects the promise with MPI_Error_string's text.
 */
#define NAPI_VERSION 8
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_ALLREDUCE, K_REDUCESCATTER, K_ALLGATHER, K_BCAST, K_BARRIER, K_SPLIT, K_FREE, K_FINALIZE };
enum { OP_SUM, OP_MEAN, OP_MAX };
/* T_F32_NATIVE: f32 reduced as f32 by MPI (half the bytes of widening; order-dependent rounding). */
enum { T_F32, T_F64, T_BYTES, T_F32_NATIVE };
#define MAX_COMMS 1024
/*
 * The sequence check: before a checked job, its communicator all-reduces (MAX) the job's signature
 * [seq, kind, op, dtype, root, out bytes] and its negation, which yields the maximum and minimum of every
 * field in one small collective. Equal everywhere, the job runs; otherwise no rank runs it (all of them saw
 * the same maxima), they all-gather the signatures and reject with them (failed == 2), so JavaScript can name
 * each rank's collective. Every rank issues the same check call whatever it was going to run, so a mismatch
 * can neither hang nor pair one rank's data with another's differently-sized buffer.
 */
#define SIG_N 6

typedef struct Job {
  struct Job *next;
  int kind, comm, op, dtype, root, color, key, new_comm;
  const void *in;
  size_t in_bytes;
  void *out;
  size_t out_bytes;
  napi_ref in_ref, out_ref;
  napi_deferred deferred; /* NULL for finalizeSync */
  int failed; /* 1: an error (err); 2: the sequence check found a mismatch (sigs) */
  int checked;
  long long sig[SIG_N];
  long long *sigs; /* failed == 2: every rank's signature, nsigs × SIG_N */
  int nsigs;
  char err[MPI_MAX_ERROR_STRING + 128];
} Job;

static pthread_t worker;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static Job *head, *tail;
static int started, init_done, finalized, world_rank, world_size, provided;
static int sync_done;
static napi_threadsafe_function tsfn;
static int pending; /* main thread only: jobs whose promise is unresolved (keeps the loop alive) */
static int next_comm = 1; /* main thread only: handles are assigned at submit time, in order */
static int free_handles[MAX_COMMS], nfree; /* main thread only: handles of freed communicators, for reuse */
static MPI_Comm comms[MAX_COMMS]; /* worker thread only */
static MPI_Op max_nan, max_nan_f32;

/* max that propagates NaN, as host-collectives.ts does (MPI_MAX leaves NaN to the implementation). */
static void max_nan_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
  const double *a = in;
  double *b = inout;
  for (int i = 0; i < *len; i++)
    if (isnan(a[i]) || a[i] > b[i]) b[i] = a[i];
}

static void max_nan_f32_fn(void *in, void *inout, int *len, MPI_Datatype *dt) {
  const float *a = in;
  float *b = inout;
  for (int i = 0; i < *len; i++)
    if (isnan(a[i]) || a[i] > b[i]) b[i] = a[i];
}

/*
 * The f64 buffers of a widened f32 reduction, kept between collectives (worker thread only). Allocating them
 * per call cost 5-10x the reduction itself under Open MPI (fresh pages each time: faults, and its memory
 * hooks on every free), e.g. 40 ms instead of 4 ms for a 4 MB all-reduce at 2 ranks.
 */
static double *scratch;
static size_t scratch_len;

static double *widen_scratch(size_t n) {
  if (n > scratch_len) {
    free(scratch);
    scratch = malloc(n * sizeof *scratch);
    scratch_len = scratch ? n : 0;
  }
  return scratch;
}

static int check(Job *j, int rc, const char *what) {
  if (rc == MPI_SUCCESS) return 0;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  msg[len] = 0;
  snprintf(j->err, sizeof j->err, "%s failed: %s", what, msg);
  j->failed = 1;
  return 1;
}

static void reduce(Job *j, MPI_Comm c, int size) {
  int scatter = j->kind == K_REDUCESCATTER;
  size_t n = j->in_bytes / (j->dtype == T_F64 ? 8 : 4), m = scatter ? n / size : n;
  if (n > INT_MAX) {
    snprintf(j->err, sizeof j->err, "a reduction of %zu elements exceeds MPI's int count", n);
    j->failed = 1;
    return;
  }
  if (j->dtype == T_F32_NATIVE) {
    MPI_Op op = j->op == OP_MAX ? max_nan_f32 : MPI_SUM;
    float *dst = j->out;
    int rc = scatter ? MPI_Reduce_scatter_block(j->in, dst, (int)m, MPI_FLOAT, op, c)
                     : MPI_Allreduce(j->in, dst, (int)n, MPI_FLOAT, op, c);
    if (!check(j, rc, scatter ? "MPI_Reduce_scatter_block" : "MPI_Allreduce") && j->op == OP_MEAN)
      for (size_t i = 0; i < m; i++) dst[i] /= (float)size;
    return;
  }
  double *src = (double *)j->in, *dst = j->out;
  if (j->dtype == T_F32) {
    double *wide = widen_scratch(n + m);
    if (!wide) {
      snprintf(j->err, sizeof j->err, "out of memory widening %zu floats", n);
      j->failed = 1;
      return;
    }
    const float *f = j->in;
    for (size_t i = 0; i < n; i++) wide[i] = f[i];
    src = wide;
    dst = wide + n;
  }
  MPI_Op op = j->op == OP_MAX ? max_nan : MPI_SUM;
  int rc = scatter ? MPI_Reduce_scatter_block(src, dst, (int)m, MPI_DOUBLE, op, c)
                   : MPI_Allreduce(src, dst, (int)n, MPI_DOUBLE, op, c);
  if (!check(j, rc, scatter ? "MPI_Reduce_scatter_block" : "MPI_Allreduce")) {
    if (j->op == OP_MEAN)
      for (size_t i = 0; i < m; i++) dst[i] /= size;
    if (j->dtype == T_F32) {
      float *o = j->out;
      for (size_t i = 0; i < m; i++) o[i] = (float)dst[i];
    }
  }
}

/* Returns 1 when the signatures differ across `c` (j then holds every rank's) or the check failed. */
static int mismatch(Job *j, MPI_Comm c, int size) {
  long long both[2 * SIG_N], max[2 * SIG_N];
  for (int i = 0; i < SIG_N; i++) {
    both[i] = j->sig[i];
    both[SIG_N + i] = -j->sig[i];
  }
  if (check(j, MPI_Allreduce(both, max, 2 * SIG_N, MPI_LONG_LONG, MPI_MAX, c), "the sequence check (MPI_Allreduce)"))
    return 1;
  int same = 1;
  for (int i = 0; i < SIG_N; i++) same &= max[i] == -max[SIG_N + i];
  if (same) return 0;
  j->sigs = malloc((size_t)size * SIG_N * sizeof *j->sigs);
  if (!j->sigs) {
    snprintf(j->err, sizeof j->err, "out of memory gathering %d collective signatures", size);
    j->failed = 1;
    return 1;
  }
  if (check(j, MPI_Allgather(j->sig, SIG_N, MPI_LONG_LONG, j->sigs, SIG_N, MPI_LONG_LONG, c), "MPI_Allgather"))
    return 1;
  j->nsigs = size;
  j->failed = 2;
  return 1;
}

static void run(Job *j) {
  MPI_Comm c = comms[j->comm];
  int size = 1;
  if (j->kind != K_FINALIZE && c == MPI_COMM_NULL) {
    snprintf(j->err, sizeof j->err, "communicator %d is not open", j->comm);
    j->failed = 1;
    return;
  }
  if (j->kind != K_FINALIZE) MPI_Comm_size(c, &size);
  if (j->checked && mismatch(j, c, size)) return;
  if ((j->in_bytes > INT_MAX || j->out_bytes > INT_MAX) && j->kind != K_ALLREDUCE && j->kind != K_REDUCESCATTER) {
    snprintf(j->err, sizeof j->err, "a %zu-byte message exceeds MPI's int count", j->in_bytes);
    j->failed = 1;
    return;
  }
  switch (j->kind) {
    case K_ALLREDUCE:
    case K_REDUCESCATTER:
      reduce(j, c, size);
      break;
    case K_ALLGATHER:
      check(j, MPI_Allgather(j->in, (int)j->in_bytes, MPI_BYTE, j->out, (int)j->in_bytes, MPI_BYTE, c), "MPI_Allgather");
      break;
    case K_BCAST: {
      int me;
      MPI_Comm_rank(c, &me);
      if (me == j->root) memcpy(j->out, j->in, j->out_bytes);
      check(j, MPI_Bcast(j->out, (int)j->out_bytes, MPI_BYTE, j->root, c), "MPI_Bcast");
      break;
    }
    case K_BARRIER:
      check(j, MPI_Barrier(c), "MPI_Barrier");
      break;
    case K_SPLIT: {
      MPI_Comm nc = MPI_COMM_NULL;
      if (!check(j, MPI_Comm_split(c, j->color, j->key, &nc), "MPI_Comm_split")) {
        MPI_Comm_set_errhandler(nc, MPI_ERRORS_RETURN);
        comms[j->new_comm] = nc;
      }
      break;
    }
    case K_FREE:
      /* Collective over the communicator, like every rank's destroy() of its sub-group. */
      if (!check(j, MPI_Comm_free(&comms[j->comm]), "MPI_Comm_free")) comms[j->comm] = MPI_COMM_NULL;
      break;
    case K_FINALIZE:
      free(scratch);
      scratch = NULL;
      scratch_len = 0;
      MPI_Op_free(&max_nan);
      MPI_Op_free(&max_nan_f32);
      check(j, MPI_Finalize(), "MPI_Finalize");
      break;
  }
}

static void *worker_main(void *arg) {
  MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Op_create(max_nan_fn, 1, &max_nan);
  MPI_Op_create(max_nan_f32_fn, 1, &max_nan_f32);
  for (int i = 0; i < MAX_COMMS; i++) comms[i] = MPI_COMM_NULL;
  comms[0] = MPI_COMM_WORLD;
  pthread_mutex_lock(&mu);
  init_done = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  for (;;) {
    pthread_mutex_lock(&mu);
    while (!head) pthread_cond_wait(&cv, &mu);
    Job *j = head;
    head = j->next;
    if (!head) tail = NULL;
    pthread_mutex_unlock(&mu);
    run(j);
    int last = j->kind == K_FINALIZE;
    if (j->deferred) {
      napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking);
    } else {
      pthread_mutex_lock(&mu);
      sync_done = 1;
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mu);
      free(j);
    }
    if (last) return NULL;
  }
}

static void enqueue(Job *j) {
  pthread_mutex_lock(&mu);
  j->next = NULL;
  if (tail) tail->next = j;
  else head = j;
  tail = j;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Main thread: settles a job's promise. */
static void complete(napi_env env, napi_value fn, void *ctx, void *data) {
  Job *j = data;
  if (env) {
    napi_value v;
    if (j->failed == 2) {
      /* error.signatures: every rank's [seq, kind, op, dtype, root, out bytes], in rank order. */
      napi_value msg, arr, x;
      napi_create_string_utf8(env, "collective sequence mismatch", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &v);
      napi_create_array_with_length(env, (size_t)j->nsigs * SIG_N, &arr);
      for (int i = 0; i < j->nsigs * SIG_N; i++) {
        napi_create_double(env, (double)j->sigs[i], &x);
        napi_set_element(env, arr, (uint32_t)i, x);
      }
      napi_set_named_property(env, v, "signatures", arr);
      napi_reject_deferred(env, j->deferred, v);
    } else if (j->failed) {
      napi_value msg;
      napi_create_string_utf8(env, j->err, NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &v);
      napi_reject_deferred(env, j->deferred, v);
    } else {
      if (j->out_ref) napi_get_reference_value(env, j->out_ref, &v);
      else if (j->kind == K_SPLIT) napi_create_int32(env, j->new_comm, &v);
      else napi_get_undefined(env, &v);
      napi_resolve_deferred(env, j->deferred, v);
    }
    if (j->in_ref) napi_delete_reference(env, j->in_ref);
    if (j->out_ref) napi_delete_reference(env, j->out_ref);
    if (--pending == 0) napi_unref_threadsafe_function(env, tsfn);
    if (j->kind == K_FINALIZE) napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  }
  free(j->sigs);
  free(j);
}

#define THROW(env, msg)                       \
  do {                                        \
    napi_throw_error(env, NULL, msg);         \
    return NULL;                              \
  } while (0)

static napi_value set_int(napi_env env, napi_value o, const char *k, int v) {
  napi_value x;
  napi_create_int32(env, v, &x);
  napi_set_named_property(env, o, k, x);
  return o;
}

/* init() -> { rank, size, threadLevel }: starts the MPI thread (once) and waits for MPI_Init_thread. */
static napi_value js_init(napi_env env, napi_callback_info info) {
  if (finalized) THROW(env, "MPI was finalized in this process; it cannot be initialized again");
  if (!started) {
    napi_value name;
    napi_create_string_utf8(env, "vit-mpi", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, complete, &tsfn) != napi_ok)
      THROW(env, "could not create the MPI completion callback");
    napi_unref_threadsafe_function(env, tsfn);
    if (pthread_create(&worker, NULL, worker_main, NULL)) THROW(env, "could not start the MPI thread");
    started = 1;
    pthread_mutex_lock(&mu);
    while (!init_done) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
  }
  napi_value o, lvl;
  napi_create_object(env, &o);
  set_int(env, o, "rank", world_rank);
  set_int(env, o, "size", world_size);
  const char *names[] = {"single", "funneled", "serialized", "multiple"};
  napi_create_string_utf8(env, provided >= 0 && provided <= 3 ? names[provided] : "unknown", NAPI_AUTO_LENGTH, &lvl);
  napi_set_named_property(env, o, "threadLevel", lvl);
  char ver[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(ver, &len);
  char *nl = strchr(ver, ',');
  if (nl) *nl = 0;
  napi_value v;
  napi_create_string_utf8(env, ver, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "library", v);
  return o;
}

/* An optional signature argument (an array of SIG_N numbers) turns the sequence check on for the job. */
static int read_sig(napi_env env, napi_value v, Job *j) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined || t == napi_null) return 1;
  uint32_t len = 0;
  bool is_array = false;
  napi_is_array(env, v, &is_array);
  if (!is_array || napi_get_array_length(env, v, &len) != napi_ok || len != SIG_N) return 0;
  for (uint32_t i = 0; i < SIG_N; i++) {
    napi_value x;
    double d;
    napi_get_element(env, v, i, &x);
    if (napi_get_value_double(env, x, &d) != napi_ok) return 0;
    j->sig[i] = (long long)d;
  }
  j->checked = 1;
  return 1;
}

static napi_value submit(napi_env env, Job *j) {
  napi_value promise;
  napi_create_promise(env, &j->deferred, &promise);
  if (pending++ == 0) napi_ref_threadsafe_function(env, tsfn);
  enqueue(j);
  return promise;
}

/*
 * collective(comm, kind, op, dtype, root, input: Uint8Array, outBytes, signature?) -> Promise<Uint8Array |
 * undefined>. The input stays referenced (and must not be changed) until the promise settles. With a
 * signature, the sequence check runs first (see SIG_N).
 */
static napi_value js_collective(napi_env env, napi_callback_info info) {
  if (!started || finalized) THROW(env, "MPI is not initialized (call init() first) or was finalized");
  size_t argc = 8;
  napi_value a[8];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc < 7) THROW(env, "collective(comm, kind, op, dtype, root, input, outBytes, signature?)");
  Job *j = calloc(1, sizeof *j);
  if (!j) THROW(env, "out of memory");
  if (argc >= 8 && !read_sig(env, a[7], j)) {
    free(j);
    THROW(env, "collective: the signature must be an array of 6 numbers");
  }
  int out_bytes;
  napi_get_value_int32(env, a[0], &j->comm);
  napi_get_value_int32(env, a[1], &j->kind);
  napi_get_value_int32(env, a[2], &j->op);
  napi_get_value_int32(env, a[3], &j->dtype);
  napi_get_value_int32(env, a[4], &j->root);
  napi_get_value_int32(env, a[6], &out_bytes);
  napi_typedarray_type tt;
  size_t len;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, a[5], &tt, &len, &data, &ab, &off) != napi_ok || tt != napi_uint8_array) {
    free(j);
    THROW(env, "collective: input must be a Uint8Array");
  }
  j->in = data;
  j->in_bytes = len;
  napi_create_reference(env, a[5], 1, &j->in_ref);
  if (j->kind < K_ALLREDUCE || j->kind > K_BARRIER || j->comm < 0 || j->comm >= next_comm || out_bytes < 0) {
    napi_delete_reference(env, j->in_ref);
    free(j);
    THROW(env, "collective: bad arguments");
  }
  if (j->kind != K_BARRIER) {
    napi_value out_ab, out;
    void *out_data;
    napi_create_arraybuffer(env, (size_t)out_bytes, &out_data, &out_ab);
    napi_create_typedarray(env, napi_uint8_array, (size_t)out_bytes, out_ab, 0, &out);
    j->out = out_data;
    j->out_bytes = (size_t)out_bytes;
    napi_create_reference(env, out, 1, &j->out_ref);
  }
  return submit(env, j);
}

/*
 * split(comm, color, key, signature?) -> [handle, Promise<handle>]: the handle is usable at once (jobs run in
 * order). A freed communicator's handle is reused: its MPI_Comm_free runs before this split.
 */
static napi_value js_split(napi_env env, napi_callback_info info) {
  if (!started || finalized) THROW(env, "MPI is not initialized or was finalized");
  if (!nfree && next_comm >= MAX_COMMS)
    THROW(env, "too many MPI communicators open at once (1023 sub-groups); destroy() the ones no longer used");
  size_t argc = 4;
  napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  Job *j = calloc(1, sizeof *j);
  if (!j) THROW(env, "out of memory");
  if (argc >= 4 && !read_sig(env, a[3], j)) {
    free(j);
    THROW(env, "split: the signature must be an array of 6 numbers");
  }
  j->kind = K_SPLIT;
  napi_get_value_int32(env, a[0], &j->comm);
  napi_get_value_int32(env, a[1], &j->color);
  napi_get_value_int32(env, a[2], &j->key);
  j->new_comm = nfree ? free_handles[--nfree] : next_comm++;
  napi_value arr, h, p;
  p = submit(env, j);
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, j->new_comm, &h);
  napi_set_element(env, arr, 0, h);
  napi_set_element(env, arr, 1, p);
  return arr;
}

/* free(comm, signature?) -> Promise: MPI_Comm_free of a split's communicator; its handle becomes reusable. */
static napi_value js_free(napi_env env, napi_callback_info info) {
  if (!started || finalized) THROW(env, "MPI is not initialized or was finalized");
  size_t argc = 2;
  napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  Job *j = calloc(1, sizeof *j);
  if (!j) THROW(env, "out of memory");
  napi_get_value_int32(env, a[0], &j->comm);
  if (j->comm <= 0 || j->comm >= next_comm || (argc >= 2 && !read_sig(env, a[1], j))) {
    free(j);
    THROW(env, "free(comm, signature?): not a sub-group's communicator");
  }
  for (int i = 0; i < nfree; i++)
    if (free_handles[i] == j->comm) {
      free(j);
      THROW(env, "free: the communicator was already freed");
    }
  j->kind = K_FREE;
  free_handles[nfree++] = j->comm;
  return submit(env, j);
}

/* openComms() -> the number of communicators open or being opened, MPI_COMM_WORLD included. */
static napi_value js_open_comms(napi_env env, napi_callback_info info) {
  napi_value v;
  napi_create_int32(env, next_comm - nfree, &v);
  return v;
}

/* finalize() -> Promise: MPI_Finalize after every job already submitted; the MPI thread then ends. */
static napi_value js_finalize(napi_env env, napi_callback_info info) {
  if (!started || finalized) THROW(env, "MPI is not initialized or was already finalized");
  finalized = 1;
  Job *j = calloc(1, sizeof *j);
  j->kind = K_FINALIZE;
  return submit(env, j);
}

/* finalizeSync(): the same, blocking (for process 'exit' handlers, which cannot wait for promises). */
static napi_value js_finalize_sync(napi_env env, napi_callback_info info) {
  if (!started || finalized) return NULL;
  finalized = 1;
  Job *j = calloc(1, sizeof *j);
  j->kind = K_FINALIZE;
  enqueue(j);
  pthread_mutex_lock(&mu);
  while (!sync_done) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  pthread_join(worker, NULL);
  return NULL;
}

/* abort(code): MPI_Abort on MPI_COMM_WORLD; the launcher then ends every rank. Does not return. */
static napi_value js_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  int code = 1;
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  if (argc >= 1) napi_get_value_int32(env, a[0], &code);
  if (started) MPI_Abort(MPI_COMM_WORLD, code);
  exit(code);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"collective", NULL, js_collective, NULL, NULL, NULL, napi_default, NULL},
      {"split", NULL, js_split, NULL, NULL, NULL, napi_default, NULL},
      {"free", NULL, js_free, NULL, NULL, NULL, napi_default, NULL},
      {"openComms", NULL, js_open_comms, NULL, NULL, NULL, napi_default, NULL},
      {"finalize", NULL, js_finalize, NULL, NULL, NULL, napi_default, NULL},
      {"finalizeSync", NULL, js_finalize_sync, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

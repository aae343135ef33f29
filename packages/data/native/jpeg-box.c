/*
 * Node-API binding that decodes one rectangle of a JPEG to 8-bit RGB with the system's libjpeg(-turbo).
 *
 * Why it exists: RandomResizedCrop needs only a box of each image, and sharp (libvips) spends ~1.2 ms of
 * CPU per 224-500 px JPEG where libjpeg-turbo itself needs ~0.4 ms for the whole image; libvips' per-call
 * pipeline set-up dominates. libjpeg-turbo can also skip work outside the box: jpeg_skip_scanlines() skips
 * the IDCT and colour conversion of rows above it, jpeg_crop_scanline() restricts every row to the box's
 * columns, and rows below it are never read. No Node binding exposes that, so this file does, and nothing
 * else: anything it does not handle (CMYK/YCCK, 12-bit, a libjpeg warning about corrupt data) makes it
 * report failure so that the caller decodes through sharp and behaves exactly as before.
 *
 * Exactness: the decode uses libjpeg's defaults (accurate integer IDCT, fancy upsampling), as PIL and
 * libvips do, so the box equals the same box of a full decode bit for bit. Fancy upsampling reads one
 * neighbouring sample on each side, so the decoded region extends MARGIN pixels past the box where the image
 * allows and the margin is thrown away: the box's edge pixels see their real neighbours.
 *
 * API (both check their arguments and throw TypeError on misuse):
 *   decodeBox(jpeg, left, top, width, height, out) -> Promise<boolean>   runs on libuv's thread pool
 *   decodeBoxSync(jpeg, left, top, width, height, out) -> boolean
 * `out` receives width*height*3 bytes; false means "not decoded here, use another decoder".
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#define MARGIN 16

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
} ErrorManager;

static void on_error(j_common_ptr cinfo) {
  ErrorManager* err = (ErrorManager*)cinfo->err;
  longjmp(err->jump, 1);
}

/* Level -1 is a warning about corrupt data after which libjpeg would invent pixels; sharp refuses such files
 * by default, so hand them back to it rather than decide differently here. Trace messages are ignored. */
static void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

typedef struct {
  const unsigned char* src;
  size_t src_len;
  unsigned char* out;
  size_t out_len;
  int left, top, width, height;
} BoxRequest;

static int decode_box(const BoxRequest* r) {
  struct jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, r->src, (unsigned long)r->src_len);
  jpeg_read_header(&cinfo, TRUE);
  const J_COLOR_SPACE cs = cinfo.jpeg_color_space;
  const unsigned long W = cinfo.image_width, H = cinfo.image_height;
  if ((cs != JCS_YCbCr && cs != JCS_GRAYSCALE && cs != JCS_RGB) || cinfo.data_precision != 8 ||
      (unsigned long)r->left + (unsigned long)r->width > W ||
      (unsigned long)r->top + (unsigned long)r->height > H) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);

  /* Columns: libjpeg moves x0 left to an iMCU boundary and widens the region to keep its right end. */
  JDIMENSION x0 = r->left > MARGIN ? (JDIMENSION)(r->left - MARGIN) : 0;
  const unsigned long right = (unsigned long)r->left + r->width + MARGIN;
  JDIMENSION region = (JDIMENSION)((right < W ? right : W) - x0);
  if (x0 > 0 || region < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x0, &region);
  const JDIMENSION y0 = r->top > MARGIN ? (JDIMENSION)(r->top - MARGIN) : 0;
  if (y0 > 0) jpeg_skip_scanlines(&cinfo, y0);

  JSAMPARRAY rows = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE,
                                               cinfo.output_width * cinfo.output_components,
                                               (JDIMENSION)cinfo.rec_outbuf_height);
  const size_t row_bytes = (size_t)r->width * 3;
  const size_t skip_bytes = (size_t)(r->left - (int)x0) * 3;
  const JDIMENSION end = (JDIMENSION)(r->top + r->height);
  while (cinfo.output_scanline < end) {
    const JDIMENSION first = cinfo.output_scanline;
    const JDIMENSION n = jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)cinfo.rec_outbuf_height);
    if (n == 0) longjmp(err.jump, 1); /* suspended source: cannot happen with a memory source */
    for (JDIMENSION i = 0; i < n; i++) {
      const JDIMENSION y = first + i;
      if (y >= (JDIMENSION)r->top && y < end) {
        memcpy(r->out + (size_t)(y - r->top) * row_bytes, rows[i] + skip_bytes, row_bytes);
      }
    }
  }
  /* Rows below the box are never decoded; abort instead of finishing the image. */
  jpeg_abort_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 1;
}

/* ---- Node-API glue ---------------------------------------------------------------------------------- */

#define CHECK(call)                                              \
  do {                                                           \
    if ((call) != napi_ok) {                                     \
      napi_throw_error(env, NULL, "jpeg-box: " #call " failed"); \
      return NULL;                                               \
    }                                                            \
  } while (0)

static int bytes_of(napi_env env, napi_value v, unsigned char** data, size_t* len) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void* ptr = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array && type != napi_uint8_clamped_array) return 0;
  *data = (unsigned char*)ptr;
  return 1;
}

/* Reads (jpeg, left, top, width, height, out) into *r; throws and returns 0 on bad arguments. */
static int parse_args(napi_env env, napi_callback_info info, BoxRequest* r, napi_value* jpeg, napi_value* out) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    napi_throw_type_error(env, NULL, "jpeg-box: expected (jpeg, left, top, width, height, out)");
    return 0;
  }
  unsigned char* src = NULL;
  if (!bytes_of(env, argv[0], &src, &r->src_len) || !bytes_of(env, argv[5], &r->out, &r->out_len)) {
    napi_throw_type_error(env, NULL, "jpeg-box: jpeg and out must be Uint8Arrays");
    return 0;
  }
  r->src = src;
  int* fields[4] = {&r->left, &r->top, &r->width, &r->height};
  for (int i = 0; i < 4; i++) {
    if (napi_get_value_int32(env, argv[i + 1], fields[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "jpeg-box: left, top, width and height must be integers");
      return 0;
    }
  }
  if (r->left < 0 || r->top < 0 || r->width <= 0 || r->height <= 0 ||
      (size_t)r->width * (size_t)r->height * 3 > r->out_len) {
    napi_throw_range_error(env, NULL, "jpeg-box: empty or negative box, or out is smaller than width*height*3");
    return 0;
  }
  *jpeg = argv[0];
  *out = argv[5];
  return 1;
}

static napi_value decode_box_sync(napi_env env, napi_callback_info info) {
  BoxRequest r;
  napi_value jpeg, out, result;
  if (!parse_args(env, info, &r, &jpeg, &out)) return NULL;
  CHECK(napi_get_boolean(env, decode_box(&r), &result));
  return result;
}

typedef struct {
  BoxRequest request;
  int ok;
  napi_async_work work;
  napi_deferred deferred;
  /* Keep both arrays alive (and their memory in place) while a pool thread uses them. */
  napi_ref jpeg_ref, out_ref;
} Job;

static void job_execute(napi_env env, void* data) {
  (void)env;
  Job* job = (Job*)data;
  job->ok = decode_box(&job->request);
}

static void job_complete(napi_env env, napi_status status, void* data) {
  Job* job = (Job*)data;
  napi_value result;
  napi_get_boolean(env, status == napi_ok && job->ok, &result);
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_reference(env, job->jpeg_ref);
  napi_delete_reference(env, job->out_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value decode_box_async(napi_env env, napi_callback_info info) {
  Job* job = (Job*)calloc(1, sizeof(Job));
  if (!job) {
    napi_throw_error(env, NULL, "jpeg-box: out of memory");
    return NULL;
  }
  napi_value jpeg, out, promise, name;
  if (!parse_args(env, info, &job->request, &jpeg, &out)) {
    free(job);
    return NULL;
  }
  CHECK(napi_create_reference(env, jpeg, 1, &job->jpeg_ref));
  CHECK(napi_create_reference(env, out, 1, &job->out_ref));
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "vit:jpeg-box", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, job_execute, job_complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

#define STR(x) #x
#define XSTR(x) STR(x)

NAPI_MODULE_INIT() {
  napi_value fn, version;
  CHECK(napi_create_function(env, "decodeBox", NAPI_AUTO_LENGTH, decode_box_async, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "decodeBox", fn));
  CHECK(napi_create_function(env, "decodeBoxSync", NAPI_AUTO_LENGTH, decode_box_sync, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "decodeBoxSync", fn));
#ifdef LIBJPEG_TURBO_VERSION
  CHECK(napi_create_string_utf8(env, "libjpeg-turbo " XSTR(LIBJPEG_TURBO_VERSION), NAPI_AUTO_LENGTH, &version));
#else
  CHECK(napi_create_string_utf8(env, "libjpeg " XSTR(JPEG_LIB_VERSION), NAPI_AUTO_LENGTH, &version));
#endif
  CHECK(napi_set_named_property(env, exports, "version", version));
  return exports;
}

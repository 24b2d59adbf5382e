#version 330 core
// One textured quad, no vertex buffer: gl_VertexID 0..3 are the corners of a triangle strip.
// u_rect: (x0, y0, x1, y1) of the quad in object space (bottom-left, top-right), at depth u_z.
// u_uv:   texture coordinates at the bottom-left (xy) and top-right (zw) corners;
//         v = 0 is the image's top row (images are uploaded top row first).
// u_mvp:  object → clip space (identity for the full-view quad).
uniform mat4 u_mvp;
uniform vec4 u_rect;
uniform vec4 u_uv;
uniform float u_z;
out vec2 v_uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));
    v_uv = mix(u_uv.xy, u_uv.zw, corner);
    gl_Position = u_mvp * vec4(mix(u_rect.xy, u_rect.zw, corner), u_z, 1.0);
}

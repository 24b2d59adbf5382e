#version 330 core
// u_image is an sRGB texture, so sampling (and bilinear filtering) happens in linear light.
// u_encode_srgb: the target is not sRGB (or GL_FRAMEBUFFER_SRGB is off): encode here, so the
// stored bytes are the sRGB-encoded colour. Otherwise GL_FRAMEBUFFER_SRGB encodes on write.
uniform sampler2D u_image;
uniform bool u_encode_srgb;
in vec2 v_uv;
out vec4 frag_color;

vec3 linear_to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), c));
}

void main() {
    vec3 c = texture(u_image, v_uv).rgb;
    frag_color = vec4(u_encode_srgb ? linear_to_srgb(c) : c, 1.0);
}

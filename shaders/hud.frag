#version 330 core
// The HUD: an sRGBA texture (text on a translucent box, straight alpha) blended over the eye.
// u_encode_srgb as in eye.frag: encode here when the target does not (GL_FRAMEBUFFER_SRGB off).
uniform sampler2D u_image;
uniform bool u_encode_srgb;
in vec2 v_uv;
out vec4 frag_color;

vec3 linear_to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(vec3(0.0031308), c));
}

void main() {
    vec4 c = texture(u_image, v_uv);
    frag_color = vec4(u_encode_srgb ? linear_to_srgb(c.rgb) : c.rgb, c.a);
}

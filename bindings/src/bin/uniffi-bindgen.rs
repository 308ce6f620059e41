//! uniffi's binding generator, built with this crate's uniffi version: generates the Kotlin,
//! Swift and Python sources from the compiled library (see `bindings/README.md`).

fn main() {
    uniffi::uniffi_bindgen_main()
}

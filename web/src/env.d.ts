declare module '*.nk' {
  const text: string;
  export default text;
}
